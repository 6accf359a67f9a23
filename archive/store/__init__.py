"""Capture storage: WARC records written crash-safely, the Snapshot rows that index them, the
archiver process that writes both for a crawl, and the repair after a crash. Knows nothing of
articles or changes."""
