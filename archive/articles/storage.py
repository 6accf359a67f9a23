"""Articles in the database: store what ingest read, the resolution of outlets, and views.

``store_article`` turns an :class:`~archive.articles.ingest.ArticleDoc` into an Article
with its Claims and Citations (links, DOIs, outlets), linking each link to the
claims in or next to its sentence. ``save_resolution`` records an outlet's
candidates with their evidence, tracks the best as Sources (the front page
always), and links the claims they support. ``article_view`` is the one shape
``citewatch citations --json`` prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.articles.claims import ClaimDraft, extract_claims, sentences
from archive.articles.ingest import ArticleDoc
from archive.errors import NotFoundError
from archive.models import (
    MAX_ID,
    Article,
    ArticleSource,
    Candidate,
    Citation,
    Claim,
    Outlet,
    Snapshot,
    Source,
)
from archive.store import index

# Outlet names and ranking are imported where articles are added or resolved: `citewatch
# citations` only reads them (docs/architecture.md, "CLI speed").
if TYPE_CHECKING:
    from archive.articles.resolve import Scored


def _outlet(session: Session, domain: str, name: str, now: datetime) -> Outlet:
    outlet = session.scalars(select(Outlet).where(Outlet.domain == domain)).first()
    if outlet is None:
        outlet = Outlet(domain=domain, name=name, created_at=now)
        session.add(outlet)
        session.flush()
    return outlet


def _sentence_index(all_sentences: list[str], context: str) -> int | None:
    for i, sentence in enumerate(all_sentences):
        if sentence == context or (context and (context in sentence or sentence in context)):
            return i
    return None


def _claims_near(claims: list[Claim], at: int | None) -> list[Claim]:
    """The claim in the link's sentence, else the claims just before and after it."""
    if at is None:
        return []
    by_position = {c.position: c for c in claims}
    if at in by_position:
        return [by_position[at]]
    return [by_position[p] for p in (at - 1, at + 1) if p in by_position]


def live_claims(article: Article) -> list[Claim]:
    """The claims the article has now (not those a re-read retired), in reading order."""
    return sorted((c for c in article.claims if c.retired_at is None), key=lambda c: c.position)


def live_citations(article: Article) -> list[Citation]:
    """The citations the article makes now, in order of first mention."""
    return sorted((c for c in article.citations if c.retired_at is None), key=_order)


def claim_numbers(article: Article) -> dict[int, int]:
    """Claim id -> its number within the article (1..n, in reading order): the one numbering
    users see. Retired claims have none."""
    return {c.id: n for n, c in enumerate(live_claims(article), 1)}


def claim_numbers_of(session: Session, article_ids: Iterable[int]) -> dict[int, int]:
    """Claim id -> number within its article, for the claims of these articles (one query: the
    change log names claims this way)."""
    wanted = sorted(set(article_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Claim.article_id, Claim.id)
        .where(Claim.article_id.in_(wanted), Claim.retired_at.is_(None))
        .order_by(Claim.article_id, Claim.position)
    )
    numbers: dict[int, int] = {}
    counts: dict[int, int] = {}
    for aid, cid in rows:
        counts[aid] = numbers[cid] = counts.get(aid, 0) + 1
    return numbers


def claim_drafts(article: Article) -> list[ClaimDraft]:
    """The claims of a stored article, as the resolver reads them."""
    return [
        ClaimDraft(
            position=c.position,
            text=c.text,
            **{
                k: tuple(c.terms.get(k, ()))
                for k in ClaimDraft.__dataclass_fields__
                if k not in {"position", "text"}
            },
        )
        for c in live_claims(article)
    ]


def same_article(session: Session, doc: ArticleDoc) -> Article | None:
    """An article added before from the same URL (or canonical URL), or with the same text."""
    urls = [u for u in (doc.url, doc.canonical_url) if u]
    stmt = select(Article).order_by(Article.id)
    if urls:
        stmt = stmt.where(Article.url.in_(urls) | Article.canonical_url.in_(urls))
    else:
        stmt = stmt.where(Article.url.is_(None), Article.text == doc.text)
    return session.scalars(stmt.limit(1)).first()


def store_article(
    session: Session,
    doc: ArticleDoc,
    outlets: dict[str, str],
    now: datetime,
    source_id: int | None = None,
    resolve: bool = True,
) -> tuple[Article, bool]:
    """Store an article with its claims and citations, or, added again, update it in place.

    Read again, claims and citations that are still there keep their ids (a claim whose sentence
    was edited a little is the same claim); those no longer in the article are retired, never
    deleted, and every source it cited stays in its ledger, so its changes stay listed under it.
    Returns the article and whether it was known before."""
    article = same_article(session, doc)
    known = article is not None
    if article is None:
        article = Article(added_at=now)
        session.add(article)
    article.url, article.canonical_url, article.text = doc.url, doc.canonical_url, doc.text
    article.title, article.author, article.published_at = doc.title, doc.author, doc.published
    article.input_kind = doc.input_kind
    article.source_id = source_id if source_id is not None else article.source_id
    _refresh_claims(article, extract_claims(doc.text), now)
    old = list(article.citations)
    links = _add_links(session, article, doc, old, now)
    kept = links + _add_outlets(session, article, doc.text, outlets, links, old, now, resolve)
    for citation in old:
        if citation not in kept and citation.retired_at is None:
            citation.retired_at = now
    session.flush()
    if article.source_id is not None:
        cite_sources(session, article.id, [article.source_id], "article", now)
    for citation in kept:
        if citation.source_id is not None:
            cite_sources(session, article.id, [citation.source_id], citation.kind, now, citation.id)
    return article, known


# Two readings of one sentence at least this alike (difflib's ratio) are the same claim, edited.
SAME_CLAIM = 0.8


def _refresh_claims(article: Article, drafts: list[ClaimDraft], now: datetime) -> None:
    """Match the new reading's claims to the stored ones: the same sentence first, then the most
    alike; matched claims are updated in place, the rest of the old are retired."""
    old = sorted(article.claims, key=lambda c: (c.retired_at is not None, c.position))
    pairs: dict[int, Claim] = {}  # draft index -> stored claim
    free = list(old)
    for i, draft in enumerate(drafts):
        same = next((c for c in free if c.text == draft.text), None)
        if same is not None:
            pairs[i] = same
            free.remove(same)
    alike = sorted(
        (
            (SequenceMatcher(None, c.text, drafts[i].text, autojunk=False).ratio(), i, n)
            for i in range(len(drafts))
            if i not in pairs
            for n, c in enumerate(free)
        ),
        reverse=True,
    )
    taken: set[int] = set()
    for ratio, i, n in alike:
        if ratio >= SAME_CLAIM and i not in pairs and n not in taken:
            pairs[i] = free[n]
            taken.add(n)
    for i, draft in enumerate(drafts):
        claim = pairs.get(i)
        if claim is None:
            claim = Claim()
            article.claims.append(claim)
        claim.position, claim.text, claim.terms, claim.retired_at = (
            draft.position,
            draft.text,
            draft.terms(),
            None,
        )
    matched = set(map(id, pairs.values()))
    for claim in old:
        if id(claim) not in matched and claim.retired_at is None:
            claim.retired_at = now


def cite_sources(
    session: Session,
    article_id: int,
    source_ids: Iterable[int],
    role: str,
    now: datetime,
    citation_id: int | None = None,
) -> None:
    """Enter sources in the article's ledger (once each: the first citing is kept)."""
    wanted = set(source_ids)
    if not wanted:
        return
    have = set(
        session.scalars(
            select(ArticleSource.source_id).where(
                ArticleSource.article_id == article_id, ArticleSource.source_id.in_(wanted)
            )
        )
    )
    for sid in sorted(wanted - have):
        session.add(
            ArticleSource(
                article_id=article_id, source_id=sid, citation_id=citation_id, role=role, first_cited_at=now
            )
        )
    session.flush()


def _reuse(old: list[Citation], key: tuple[str, str | None]) -> Citation | None:
    """The stored citation a new reading's citation is (same kind and URL, or same outlet name)."""
    for citation in old:
        if _citation_key(citation) == key:
            old.remove(citation)
            return citation
    return None


def _citation_key(citation: Citation) -> tuple[str, str | None]:
    if citation.kind == "outlet":
        return (
            "outlet",
            str(citation.outlet_id) if citation.outlet_id else (citation.anchor_text or "").lower(),
        )
    return (citation.kind, citation.url)


def _add_links(
    session: Session, article: Article, doc: ArticleDoc, old: list[Citation], now: datetime
) -> list[Citation]:
    all_sentences = sentences(doc.text)
    urls = [link.url for link in doc.links]
    sources = index.source_ids(session, urls, now) if urls else {}
    claims = live_claims(article)
    pool = list(old)
    made = []
    for position, link in enumerate(doc.links):
        citation = _reuse(pool, (link.kind, link.url))
        if citation is None:
            citation = Citation(kind=link.kind, url=link.url)
            article.citations.append(citation)  # before its claims: they must find it in the session
        citation.source_id, citation.anchor_text, citation.context = (
            sources[link.url],
            link.anchor,
            link.context,
        )
        citation.position, citation.resolution, citation.retired_at = position, {"status": "direct"}, None
        citation.claims = _claims_near(claims, _sentence_index(all_sentences, link.context))
        made.append(citation)
    return made


def _add_outlets(
    session: Session,
    article: Article,
    text: str,
    outlets: dict[str, str],
    links: list[Citation],
    old: list[Citation],
    now: datetime,
    resolve: bool,
) -> list[Citation]:
    from archive.articles.outlet_names import find_outlets, unknown_outlets

    pending = (
        {"status": "pending"}
        if resolve
        else {"status": "not resolved", "reason": "skipped (--no-resolve); add the article again to resolve"}
    )
    pool = [c for c in old if c.kind == "outlet"]
    made: list[Citation] = []
    cited = {c.url.split("://", 1)[-1].rstrip("/").lower() for c in links if c.url}
    position = len(links)
    for mention in find_outlets(text, outlets):
        written = mention.name.split("://", 1)[-1].rstrip("/").lower()
        if "/" in written and any(url.startswith(written) for url in cited):
            continue  # a URL written in a source list is a link citation already
        outlet = _outlet(session, mention.domain, mention.name[:200], now)
        citation = _reuse(pool, ("outlet", str(outlet.id)))
        resolution = {**pending, "pattern": mention.pattern}
        if citation is None:
            citation = Citation(kind="outlet", outlet_id=outlet.id)
            article.citations.append(citation)
        elif not resolve and (citation.resolution or {}).get("status") not in (
            None,
            "pending",
            "not resolved",
        ):
            resolution = citation.resolution  # what an earlier resolution found stays until one runs again
        citation.anchor_text, citation.context, citation.position = mention.name, mention.context, position
        citation.resolution, citation.retired_at = resolution, None
        made.append(citation)
        position += 1
    for name in unknown_outlets(text, outlets):
        reason = f"no domain known for {name!r}: add it under [outlets] in citewatch.toml"
        citation = _reuse(pool, ("outlet", name.lower()))
        if citation is None:
            citation = Citation(kind="outlet")
            article.citations.append(citation)
        citation.anchor_text, citation.position, citation.retired_at = name, position, None
        citation.resolution = {"status": "unresolved", "reason": reason}
        made.append(citation)
        position += 1
    return made


def mark_unfinished(session: Session, article_id: int, reason: str) -> int:
    """Outlet citations a stopped run left pending say so; returns how many."""
    article = session.get(Article, article_id)
    pending = (
        [c for c in article.citations if (c.resolution or {}).get("status") == "pending"] if article else []
    )
    for citation in pending:
        citation.resolution = {**citation.resolution, "status": "interrupted", "reason": reason}
    return len(pending)


def save_resolution(
    session: Session,
    citation: Citation,
    ranked: list[Scored],
    *,
    threshold: float,
    max_sources: int,
    front_url: str | None,
    report: dict[str, Any],
    now: datetime,
) -> None:
    """Candidates with evidence; the best above ``threshold`` and the front page become Sources.

    Resolved again, a source tracked before is never dropped in silence: when nothing clears the
    threshold now (a deleted article is in no sitemap any more), it stays tracked; when another
    page does, the resolution names the one it replaces, which stays in the article's ledger."""
    from archive.articles.resolve import claims_supported

    previous = [c for c in citation.candidates if c.source_id is not None]
    tracked = [s for s in ranked if s.confirmed and s.score >= threshold][:max_sources]
    track_urls = [s.entry.url for s in tracked] + ([front_url] if front_url else [])
    sources = index.source_ids(session, track_urls, now) if track_urls else {}
    outlet_id = citation.outlet_id
    for sid in sources.values():
        source = session.get(Source, sid)
        if source is not None and source.outlet_id is None:
            source.outlet_id = outlet_id
    chosen = {s.entry.url for s in tracked}
    dropped = [_candidate_copy(c) for c in previous if c.url not in chosen]
    kept = dropped if not tracked else []
    _replace_candidates(session, citation, ranked, sources, kept)
    if tracked:
        citation.source_id = sources[tracked[0].entry.url]
        drafts = claim_drafts(citation.article)
        supported = {p for s in tracked for p in claims_supported(s, drafts)}
        citation.claims = [c for c in live_claims(citation.article) if c.position in supported]
    status, reason = _resolution_outcome(session, ranked, tracked, dropped, threshold)
    citation.resolution = {
        **(citation.resolution or {}),
        "status": status,
        "reason": reason,
        "front_page": front_url,
        "replaced": [c.url for c in dropped] if tracked else [],
        **report,
    }
    if front_url:
        cite_sources(session, citation.article_id, [sources[front_url]], "front-page", now, citation.id)
    cite_sources(
        session, citation.article_id, [sources[s.entry.url] for s in tracked], "outlet", now, citation.id
    )


def _replace_candidates(
    session: Session, citation: Citation, ranked: list[Scored], sources: dict[str, int], kept: list[Candidate]
) -> None:
    """The citation's candidates become ``ranked`` (tracked where ``sources`` has them), and the
    sources tracked before that are ``kept`` stay tracked, ranked after them if not among them."""
    kept_ids = {c.url: c.source_id for c in kept}
    citation.candidates = []
    session.flush()  # the old rows go before new ones with the same URLs come
    citation.candidates = [
        _candidate(s, rank, sources.get(s.entry.url) or kept_ids.get(s.entry.url))
        for rank, s in enumerate(ranked, 1)
    ]
    ranked_urls = {s.entry.url for s in ranked}
    for extra, candidate in enumerate((c for c in kept if c.url not in ranked_urls), len(ranked) + 1):
        candidate.rank = extra
        citation.candidates.append(candidate)


def _resolution_outcome(
    session: Session, ranked: list[Scored], tracked: list[Scored], dropped: list[Candidate], threshold: float
) -> tuple[str, str | None]:
    """The resolution's status and why: what was tracked before says what became of it."""
    before = ", ".join(_described(session, c.source_id, c.url) for c in dropped)
    if tracked:
        return "resolved", f"replaces the source tracked before: {before}" if dropped else None
    if dropped:
        return "resolved", f"kept the source tracked before, not found again: {before}"
    if not ranked:
        return "unresolved", "no candidates found"
    return "unresolved", f"best score {ranked[0].score:.2f} is below {threshold:.2f}"


def _described(session: Session, source_id: int | None, url: str) -> str:
    source = session.get(Source, source_id) if source_id is not None else None
    if source is not None and source.state == "missing":
        since = f" since {source.state_since:%Y-%m-%d}" if source.state_since else ""
        return f"{url} (gone{since})"
    return url


def _candidate_copy(c: Candidate) -> Candidate:
    return Candidate(
        url=c.url,
        title=c.title,
        published_at=c.published_at,
        found_via=c.found_via,
        score=c.score,
        rank=c.rank,
        confirmed=c.confirmed,
        evidence=c.evidence,
        source_id=c.source_id,
    )


def _candidate(scored: Scored, rank: int, source_id: int | None) -> Candidate:
    from archive.articles.resolve import naive_utc

    entry = scored.entry
    return Candidate(
        url=entry.url,
        title=entry.title or None,
        published_at=naive_utc(entry.published) if entry.published else None,
        found_via=entry.found_via,
        score=scored.score,
        rank=rank,
        confirmed=scored.confirmed,
        evidence=scored.evidence,
        source_id=source_id,
    )


# -- views ----------------------------------------------------------------------
def latest_capture(session: Session, source_id: int | None) -> dict[str, Any] | None:
    if source_id is None:
        return None
    stmt = (
        select(Snapshot)
        .where(Snapshot.source_id == source_id, Snapshot.page_id.is_(None))
        .order_by(Snapshot.captured_at.desc(), Snapshot.id.desc())
        .limit(1)
    )
    snap = session.scalars(stmt).first()
    if snap is None:
        return {"outcome": "not captured yet"}
    return {
        "snapshot_id": snap.id,
        "url": snap.url,
        "captured_at": snap.captured_at.isoformat(),
        "status": snap.status,
        "outcome": index.shown_outcome(snap.outcome, snap.status),  # as capture and snapshots say
        "error": snap.error,
    }


def _source_url(session: Session, source_id: int | None) -> str | None:
    source = session.get(Source, source_id) if source_id is not None else None
    return source.url if source is not None else None


def _shown_candidates(session: Session, citation: Citation, top: int) -> list[Candidate]:
    """The best ``top`` candidates and the tracked ones, without loading the thousands stored."""
    stmt = (
        select(Candidate)
        .where(Candidate.citation_id == citation.id)
        .where((Candidate.rank <= top) | Candidate.source_id.is_not(None))
        .order_by(Candidate.rank)
    )
    return list(session.scalars(stmt))


def _citation_view(
    session: Session, citation: Citation, top: int, numbers: _Numbering, support: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    outlet = session.get(Outlet, citation.outlet_id) if citation.outlet_id else None
    shown = _shown_candidates(session, citation, top)
    tracked = [c for c in shown if c.source_id is not None]
    sources = [_source_entry(session, c.source_id, c.url, support, score=c.score) for c in tracked]
    if citation.source_id and not tracked:
        url = _source_url(session, citation.source_id)
        sources = [_source_entry(session, citation.source_id, url, support)]
    front = (citation.resolution or {}).get("front_page")
    front_id = session.scalars(select(Source.id).where(Source.url == front)).first() if front else None
    claims = [c for c in citation.claims if c.id in numbers.by_id]
    return {
        "number": numbers.citations.get(citation.id),
        "id": citation.id,
        "kind": citation.kind,
        "url": citation.url,
        "outlet": outlet.domain if outlet else None,
        "name": citation.anchor_text,
        "context": citation.context,
        "claims": sorted(numbers.by_id[c.id] for c in claims),
        "claim_ids": sorted(c.id for c in claims),
        "resolution": citation.resolution or {},
        "sources": sources,
        "front_page": {"url": front, "capture": latest_capture(session, front_id)} if front else None,
        "candidates": [_candidate_view(c, numbers) for c in shown if c.rank <= top],
    }


def _source_entry(
    session: Session,
    source_id: int | None,
    url: str | None,
    support: dict[int, dict[str, Any]],
    score: float | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"source_id": source_id, "url": url}
    if score is not None:
        entry["score"] = score
    entry["capture"] = latest_capture(session, source_id)
    entry["state"] = support.get(source_id or -1, {}).get("state")
    return entry


@dataclass
class _Numbering:
    """The numbers users see: claims and citations counted within their article from 1."""

    by_id: dict[int, int]  # claim id -> number
    by_position: dict[int, int]  # claim sentence position -> number (the resolver's evidence)
    citations: dict[int, int]  # citation id -> number

    @classmethod
    def of(cls, article: Article) -> _Numbering:
        claims = live_claims(article)
        return cls(
            {c.id: n for n, c in enumerate(claims, 1)},
            {c.position: n for n, c in enumerate(claims, 1)},
            {c.id: n for n, c in enumerate(live_citations(article), 1)},
        )


def _candidate_view(candidate: Candidate, numbers: _Numbering) -> dict[str, Any]:
    evidence = dict(candidate.evidence or {})
    evidence["matched"] = [
        {**m, "claim": numbers.by_position.get(m.get("claim", -1)), "claim_position": m.get("claim")}
        for m in evidence.get("matched", [])
    ]
    return {
        "rank": candidate.rank,
        "url": candidate.url,
        "title": candidate.title,
        "published": candidate.published_at.isoformat() if candidate.published_at else None,
        "found_via": candidate.found_via,
        "score": candidate.score,
        "confirmed": candidate.confirmed,
        "tracked": candidate.source_id is not None,
        "evidence": evidence,
    }


def current_sources(session: Session, article: Article) -> dict[int, str]:
    """Source id -> role, for what the article cites now: its links, the tracked candidates and
    front pages of its outlets, and its own page."""
    found: dict[int, str] = {}
    for citation in live_citations(article):
        tracked = session.scalars(
            select(Candidate.source_id).where(
                Candidate.citation_id == citation.id, Candidate.source_id.is_not(None)
            )
        )
        for sid in [citation.source_id, *tracked]:
            if sid is not None:
                found.setdefault(sid, citation.kind)
        front = (citation.resolution or {}).get("front_page")
        if front:
            for sid in session.scalars(select(Source.id).where(Source.url == front)):
                found.setdefault(sid, "front-page")
    if article.source_id is not None:
        found.setdefault(article.source_id, "article")
    return found


def formerly_cited(session: Session, article: Article) -> list[dict[str, Any]]:
    """Sources the article cited once and cites no more, with their last capture: never dropped."""
    now_cited = current_sources(session, article)
    rows = session.execute(
        select(ArticleSource, Source)
        .join(Source, Source.id == ArticleSource.source_id)
        .where(ArticleSource.article_id == article.id)
        .order_by(ArticleSource.first_cited_at, Source.id)
    )
    return [
        {
            "source_id": source.id,
            "url": source.url,
            "role": cited.role,
            "first_cited_at": cited.first_cited_at.isoformat(),
            "state": source.state,
            "capture": latest_capture(session, source.id),
        }
        for cited, source in rows
        if source.id not in now_cited
    ]


def claim_support(
    session: Session, article: Article
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """What happened to each claim's support: claim id -> {status, change_id, ...}; and source
    id -> {"state": ...} for the sources the claims rest on.

    A claim is ``source-gone`` when a source it rests on is gone, else ``changed`` or
    ``lost-support`` by the newest change of such a source that touched it, else ``unchanged``
    (its sources were checked and no change touched it), ``not-checked`` or ``no-source``."""
    rests_on = _sources_of_claims(session, article)
    all_sources = set().union(*rests_on.values()) if rests_on else set()
    rows = session.execute(
        select(Source.id, Source.state, Source.state_since, Source.last_checked_at).where(
            Source.id.in_(all_sources)
        )
    )
    states = {sid: (state, since, checked) for sid, state, since, checked in rows} if all_sources else {}
    touched = _claims_touched(session, all_sources, set(rests_on))
    result = {cid: _support(sources, states, touched.get(cid)) for cid, sources in rests_on.items()}
    return result, {sid: {"state": state} for sid, (state, _since, _checked) in states.items()}


def _sources_of_claims(session: Session, article: Article) -> dict[int, set[int]]:
    """Claim id -> the sources it rests on: its citations' sources and tracked candidates."""
    rests_on: dict[int, set[int]] = {c.id: set() for c in live_claims(article)}
    for citation in live_citations(article):
        candidates = session.scalars(
            select(Candidate.source_id).where(
                Candidate.citation_id == citation.id, Candidate.source_id.is_not(None)
            )
        )
        ids = {sid for sid in candidates if sid is not None}  # the query skips NULLs; mypy cannot tell
        ids |= {citation.source_id} if citation.source_id is not None else set()
        for claim in citation.claims:
            if claim.id in rests_on:
                rests_on[claim.id] |= ids
    return rests_on


def _claims_touched(session: Session, source_ids: set[int], claim_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Claim id -> the newest change of these sources that changed its support or took it."""
    from archive.models import Change

    if not source_ids:
        return {}
    changes = session.scalars(
        select(Change)
        .where(Change.source_id.in_(source_ids), Change.kind.in_(("content", "correction", "gone")))
        .order_by(Change.id.desc())
        .limit(2000)  # the newest are what tells; a source checked for years has thousands
    )
    touched: dict[int, dict[str, Any]] = {}
    for change in changes:
        for entry in (change.details or {}).get("claims", []):
            if entry.get("status") in ("changed", "lost-support") and entry.get("claim_id") in claim_ids:
                touched.setdefault(
                    entry["claim_id"],
                    {
                        "status": entry["status"],
                        "change_id": change.id,
                        "source_id": change.source_id,
                        "detected_at": change.detected_at.isoformat(),
                        "changed": entry.get("changed", []),
                        "lost": entry.get("lost", []),
                    },
                )
    return touched


def _support(
    sources: set[int], states: dict[int, tuple[Any, Any, Any]], touched: dict[str, Any] | None
) -> dict[str, Any]:
    """One claim's support, from the states of its sources and the change that touched it."""
    if not sources:
        return {"status": "no-source"}
    gone = sorted(sid for sid in sources if states.get(sid, (None, None, None))[0] == "missing")
    if gone:
        since = states[gone[0]][1]
        found = {"status": "source-gone", "source_id": gone[0], "since": since.isoformat() if since else None}
        return {**found, **({"change_id": touched["change_id"]} if touched else {})}
    if touched:
        return touched
    checked = any(states.get(sid, (None, None, None))[2] for sid in sources)
    return {"status": "unchanged" if checked else "not-checked"}


def article_view(session: Session, article: Article, top: int = 10) -> dict[str, Any]:
    numbers = _Numbering.of(article)
    support, source_states = claim_support(session, article)
    return {
        "article": {
            "id": article.id,
            "title": article.title,
            "author": article.author,
            "published": article.published_at.isoformat() if article.published_at else None,
            "url": article.url,
            "canonical_url": article.canonical_url,
            "input": article.input_kind,
            "added_at": article.added_at.isoformat(),
        },
        "claims": [
            {
                "number": numbers.by_id[c.id],
                "id": c.id,
                "position": c.position,
                "text": c.text,
                "terms": c.terms,
                "citations": sorted(
                    numbers.citations[x.id] for x in c.citations if x.id in numbers.citations
                ),
                "citation_ids": sorted(x.id for x in c.citations if x.id in numbers.citations),
                "support": support.get(c.id, {"status": "no-source"}),
            }
            for c in live_claims(article)
        ],
        "citations": [
            _citation_view(session, c, top, numbers, source_states) for c in live_citations(article)
        ],
        "formerly_cited": formerly_cited(session, article),
        "former_claims": [
            {"id": c.id, "text": c.text, "retired_at": c.retired_at.isoformat()}
            for c in sorted(article.claims, key=lambda c: c.id)
            if c.retired_at is not None
        ],
    }


def _order(citation: Citation) -> int:
    return citation.position if citation.position is not None else 10**6


def find_article(session: Session, ref: str) -> Article | None:
    """An article by id, URL or canonical URL."""
    if ref.isascii() and ref.isdigit():  # not "²", which isdigit() takes and int() refuses
        return session.get(Article, int(ref)) if int(ref) <= MAX_ID else None
    stmt = (
        select(Article)
        .where((Article.url == ref) | (Article.canonical_url == ref))
        .order_by(Article.id.desc())
    )
    return session.scalars(stmt).first()


def require_article(session: Session, ref: str) -> Article:
    """``find_article``, or a one-line error naming what was asked for."""
    found = find_article(session, ref)
    if found is None:
        raise NotFoundError(f"no article {ref!r}: `citewatch citations` (or /articles) lists them")
    return found


def list_articles(session: Session) -> list[dict[str, Any]]:
    """Every article: the claims and citations it has now (not those a re-read retired) and its
    :func:`article_health`."""
    claims = (
        select(func.count())
        .where(Claim.article_id == Article.id, Claim.retired_at.is_(None))
        .scalar_subquery()
    )
    cites = (
        select(func.count())
        .where(Citation.article_id == Article.id, Citation.retired_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(select(Article.id, Article.title, Article.url, claims, cites).order_by(Article.id))
    return [
        {
            "id": i,
            "title": t,
            "url": u,
            "claims": n,
            "citations": m,
            "health": article_health(session, session.get(Article, i)),  # type: ignore[arg-type]  # i: a row just read
        }
        for i, t, u, n, m in rows
    ]


AFFECTED = ("changed", "lost-support", "source-gone")  # support statuses a reader must look at
CITING = ("link", "doi", "outlet")  # current_sources roles of the sources claims rest on


def article_health(session: Session, article: Article) -> dict[str, int]:
    """What a reader of the article list needs first: of the sources the article cites now for
    its claims (links, DOIs, tracked outlet candidates; not front pages, which change every day,
    nor its own page), how many are ``gone`` and how many ``changed`` their text (a content or
    correction change), and how many of its claims are ``claims_affected``: changed, lost
    support or rest on a gone source, by the rule the article's page shows (:func:`claim_support`)."""
    from archive.models import Change

    support, _states = claim_support(session, article)
    cited = sorted(sid for sid, role in current_sources(session, article).items() if role in CITING)
    gone = set(session.scalars(select(Source.id).where(Source.id.in_(cited), Source.state == "missing")))
    edited = set(
        session.scalars(
            select(Change.source_id)
            .where(Change.source_id.in_(cited), Change.kind.in_(("content", "correction")))
            .distinct()
        )
    )
    return {
        "sources": len(cited),
        "gone": len(gone),
        "changed": len(edited - gone),
        "claims_affected": sum(1 for s in support.values() if s.get("status") in AFFECTED),
    }


def untrack_sources(session: Session, source_ids: Iterable[int], now: datetime) -> list[Source]:
    """Stop checking these sources. Their captures stay (WARC records are never rewritten) and
    replay as before; ``citewatch track URL`` starts checking one again."""
    sources = [s for s in (session.get(Source, sid) for sid in sorted(set(source_ids))) if s is not None]
    for source in sources:
        source.paused, source.next_check_at = True, None
        source.untracked_at = source.untracked_at or now
        source.tracked_by_user = False
    return sources


def remove_article(session: Session, article: Article, now: datetime) -> dict[str, Any]:
    """Remove an article with its claims, citations and candidates. The sources it cited stay,
    with their captures; those no other article cites and no user tracks are no longer checked."""
    cited = sources_of_article(session, article.id)
    summary: dict[str, Any] = {
        "article_id": article.id,
        "title": article.title,
        "claims": len(live_claims(article)),
        "citations": len(live_citations(article)),
    }
    session.delete(article)
    session.flush()
    orphans = [
        sid
        for sid in cited
        if not articles_citing(session, sid) and not _tracked_by_user(session.get(Source, sid))
    ]
    summary["untracked"] = [s.url for s in untrack_sources(session, orphans, now)]
    summary["still_tracked"] = [
        url for url in session.scalars(select(Source.url).where(Source.id.in_(cited))) if url
    ]
    summary["still_tracked"] = sorted(set(summary["still_tracked"]) - set(summary["untracked"]))
    return summary


def _tracked_by_user(source: Source | None) -> bool:
    return source is not None and bool(source.tracked_by_user)


def sources_of_article(session: Session, article_id: int) -> list[int]:
    """Ids of every source an article cites or cited: by link, as an outlet citation's tracked
    candidates or front page, its own page (the ledger, ``article_sources``), so that a source
    the article no longer cites keeps its changes listed under it."""
    linked = select(Citation.source_id).where(
        Citation.article_id == article_id, Citation.source_id.is_not(None)
    )
    candidates = (
        select(Candidate.source_id)
        .join(Citation, Candidate.citation_id == Citation.id)
        .where(Citation.article_id == article_id, Candidate.source_id.is_not(None))
    )
    ledger = select(ArticleSource.source_id).where(ArticleSource.article_id == article_id)
    found = set(session.scalars(linked)) | set(session.scalars(candidates)) | set(session.scalars(ledger))
    return sorted(cast("set[int]", found))  # no None: each query takes only rows with a source


def articles_citing(session: Session, source_id: int) -> list[int]:
    """Ids of the articles that cite (or cited) a source: by link, through an outlet citation's
    candidate, or in their ledger."""
    linked = select(Citation.article_id).where(Citation.source_id == source_id)
    candidates = (
        select(Citation.article_id)
        .join(Candidate, Candidate.citation_id == Citation.id)
        .where(Candidate.source_id == source_id)
    )
    ledger = select(ArticleSource.article_id).where(ArticleSource.source_id == source_id)
    return sorted(
        set(session.scalars(linked)) | set(session.scalars(candidates)) | set(session.scalars(ledger))
    )
