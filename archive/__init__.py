"""citewatch's library, in layers; each package imports only those below it.

- :mod:`archive.web`: the web UI and JSON API (a leaf: nothing in the library imports it);
- :mod:`archive.pipeline`: one capture's way from fetched to scheduled;
- :mod:`archive.schedule` and :mod:`archive.replay`: when each source is checked next, and
  the archive read back (pywb replay, WACZ export);
- :mod:`archive.changes`: what a new capture says, and whether that is a change;
- :mod:`archive.articles`: citing articles, their claims and the outlets they name;
- :mod:`archive.store`: WARC files and the index of their records;
- beneath them all: settings, errors, the database and its models, URLs, durations.

``archive`` never imports ``crawler``, ``scheduler`` or the CLI; they build on it.
"""

__version__ = "0.1.0"
