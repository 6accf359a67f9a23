"""Citing articles: reading one (ingest), its claims, the outlets it names without a link, the
ranking of an outlet's pages behind a claim, and their rows in the database (storage). The
reading and ranking modules are pure; only :mod:`archive.articles.storage` touches the database."""
