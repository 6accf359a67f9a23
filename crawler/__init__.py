"""citewatch's fetcher: a Scrapy project that writes what it fetches into the archive.

It knows nothing about schedules; ``scheduler.py`` and the CLI decide what to fetch.
"""
