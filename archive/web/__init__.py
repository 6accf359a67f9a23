"""The web UI and JSON API of ``citewatch serve`` (app), with its templates and stylesheet."""
