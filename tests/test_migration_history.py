"""Migration 0009 fills each article's ledger from what it cites at the time of the upgrade."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text

from archive import db


def test_upgrade_to_0009_enters_every_cited_source_in_the_ledger(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0008")
    now = datetime(2026, 11, 30, 12, 0)
    with engine.begin() as conn:
        for sid, url in enumerate(
            (
                "https://a.example/story",
                "https://b.example/cited",
                "https://o.example/x",
                "https://o.example/",
                "https://c.example/other",
            ),
            1,
        ):
            conn.execute(
                text(
                    "INSERT INTO sources (id, url, surt, created_at, paused, failures, host_key) "
                    "VALUES (:id, :url, :url, :now, false, 0, 0)"
                ),
                {"id": sid, "url": url, "now": now},
            )
        conn.execute(text("INSERT INTO articles (id, added_at, source_id) VALUES (1, :now, 1)"), {"now": now})
        conn.execute(text("INSERT INTO articles (id, added_at) VALUES (2, :now)"), {"now": now})
        conn.execute(
            text("INSERT INTO outlets (id, domain, created_at) VALUES (1, 'o.example', :now)"), {"now": now}
        )
        conn.execute(
            text(
                "INSERT INTO citations (id, article_id, kind, source_id, url, resolution) "
                "VALUES (1, 1, 'link', 2, 'https://b.example/cited', :res)"
            ),
            {"res": json.dumps({"status": "direct"})},
        )
        conn.execute(
            text(
                "INSERT INTO citations (id, article_id, kind, outlet_id, source_id, resolution) "
                "VALUES (2, 1, 'outlet', 1, 3, :res)"
            ),
            {"res": json.dumps({"status": "resolved", "front_page": "https://o.example/"})},
        )
        conn.execute(
            text(
                "INSERT INTO candidates"
                " (citation_id, url, found_via, score, rank, confirmed, evidence, source_id) "
                "VALUES (2, 'https://o.example/x', 'sitemap', 0.9, 1, true, '{}', 3)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO citations (id, article_id, kind, source_id, url, resolution) "
                "VALUES (3, 2, 'link', 5, 'https://c.example/other', '{}')"
            )
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT article_id, source_id, role FROM article_sources")).all()
    engine.dispose()
    assert sorted(rows) == [
        (1, 1, "article"),
        (1, 2, "link"),
        (1, 3, "outlet"),
        (1, 4, "front-page"),
        (2, 5, "link"),
    ]
