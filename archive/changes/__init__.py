"""Change watching: a capture's text (extract), the word diff, the classification of a new
capture against its baseline, what a change does to the claims resting on the source (impact),
the analysis that records Changes, the change log that reads them back, and notifications.
extract, diff, classify and impact are pure."""
