"""An article's history is never lost: adding it again updates it in place.

The example article is added against a local web of its outlets; then one outlet deletes the
article behind the claims (404, gone from its sitemap) and another corrects a number. Added
again, the article keeps its id, its claims keep their ids, the gone source stays linked, and
every change recorded before is still listed under it, each naming a claim that exists.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import webserver as ws
from tests.outletweb import OutletWeb
from tests.test_citations import ARTICLES, EXAMPLE, TARGETS, _page, _sitemap, _urls, build_web

KYIV = "kyivindependent.com"
GUARDIAN = "theguardian.com"


@pytest.fixture
def outlets():  # type: ignore[no-untyped-def]
    with OutletWeb() as web:
        build_web(web)
        yield web


def _json(home, web: OutletWeb, *args: str, codes: tuple[int, ...] = (0,)) -> Any:  # type: ignore[no-untyped-def]
    proc = home.run(*args, "--json", env={**web.env(), **EXTRA}, timeout=300)
    assert proc.returncode in codes, proc.stderr
    return json.loads(proc.stdout)


EXTRA = {"CITEWATCH_PROBE_SOFT_404": "0"}


def _all_changes(home, web: OutletWeb, article: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return _json(home, web, "changes", "--article", str(article), "--limit", "1000")


def _delete_kyiv_target(web: OutletWeb) -> str:
    path = TARGETS[KYIV]
    web.add(KYIV, path, "<html><title>Not found</title><p>No such page.</p></html>", status=404)
    urls = [u for u in _urls(KYIV) if not u[0].endswith(path)]
    web.add(KYIV, "/sitemap-2025-10.xml", _sitemap([u for u in urls if u[1] >= "2025"]), "application/xml")
    return f"https://{KYIV}{path}"


def _correct_guardian_target(web: OutletWeb) -> str:
    path = TARGETS[GUARDIAN]
    title, date, paragraphs, _role = ARTICLES[GUARDIAN][path]
    edited = [p.replace("The problem is big.", "The problem is manageable.") for p in paragraphs]
    assert edited != paragraphs, "the Guardian's target carries the quotation a claim uses"
    web.add(GUARDIAN, path, _page(title, date, *edited))
    return f"https://{GUARDIAN}{path}"


def test_adding_again_keeps_claims_sources_and_changes(home, outlets) -> None:  # type: ignore[no-untyped-def]
    first = _json(home, outlets, "add", str(EXAMPLE))
    article = first["article"]["id"]
    ids_by_text = {c["text"]: c["id"] for c in first["claims"]}
    assert [c["number"] for c in first["claims"]] == list(range(1, len(first["claims"]) + 1))

    gone_url = _delete_kyiv_target(outlets)
    edited_url = _correct_guardian_target(outlets)
    for _ in range(2):  # a 404 is gone once confirmed
        _json(home, outlets, "capture", gone_url, edited_url, codes=(1,))  # 1: the 404 failed
    before = _all_changes(home, outlets, article)
    kinds = {(c["url"], c["kind"]) for c in before}
    assert (gone_url, "gone") in kinds and (edited_url, "content") in kinds, kinds

    again = _json(home, outlets, "add", str(EXAMPLE))
    assert again["article"]["id"] == article
    assert {c["text"]: c["id"] for c in again["claims"]} == ids_by_text  # the same ids, none renumbered
    after = _all_changes(home, outlets, article)
    assert {c["id"] for c in before} <= {c["id"] for c in after}, "a change dropped out of the article"

    # The deleted source is still part of the article: tracked (not found again) or formerly cited.
    kyiv = next(c for c in again["citations"] if c["outlet"] == KYIV)
    still = {s["url"] for s in kyiv["sources"]} | {f["url"] for f in again["formerly_cited"]}
    assert gone_url in still, (kyiv["resolution"], again["formerly_cited"])
    assert kyiv["resolution"]["status"] == "resolved" and "gone" in (kyiv["resolution"]["reason"] or "")

    # Every claim a change names exists, under the number the article shows.
    numbers = {c["id"]: c["number"] for c in again["claims"]}
    for change in after:
        for claim in change["claims"]:
            assert claim["claim_id"] in numbers, claim
            assert claim["claim_number"] == numbers[claim["claim_id"]]
    touched = {c["claim_id"] for ch in after for c in ch["claims"] if c["status"] != "unaffected"}
    support = {c["id"]: c["support"]["status"] for c in again["claims"]}
    assert touched and all(support[i] in {"changed", "lost-support", "source-gone"} for i in touched), support


def test_an_edited_article_keeps_the_ids_of_its_unchanged_and_edited_claims(home, server) -> None:  # type: ignore[no-untyped-def]
    text = EXAMPLE.read_text(encoding="utf-8")
    url = server.route("/story", ws.static(text.encode(), "text/plain; charset=utf-8"))
    first = json.loads(home.run("add", url, "--no-resolve", "--json", check=True).stdout)
    claims = first["claims"]
    assert len(claims) >= 4
    dropped, edited = claims[1], claims[2]
    changed = edited["text"].replace(" ", "  ", 1)[:-1] + " indeed."
    server.route(
        "/story",
        ws.static(
            text.replace(dropped["text"], "").replace(edited["text"], changed).encode(),
            "text/plain; charset=utf-8",
        ),
    )
    second = json.loads(home.run("add", url, "--no-resolve", "--json", check=True).stdout)
    assert second["article"]["id"] == first["article"]["id"]
    now = {c["id"]: c for c in second["claims"]}
    assert edited["id"] in now and now[edited["id"]]["text"] != edited["text"]  # the same claim, edited
    assert dropped["id"] not in now and dropped["id"] in {c["id"] for c in second["former_claims"]}
    assert all(c["id"] in now for c in claims if c["id"] not in (dropped["id"], edited["id"]))
    assert [c["number"] for c in second["claims"]] == list(range(1, len(now) + 1))
