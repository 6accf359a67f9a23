"""citewatch's library: settings, database, WARC storage and its index.

``archive`` never imports ``crawler`` or ``scheduler``; they build on it.
"""

__version__ = "0.1.0"
