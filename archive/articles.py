"""Articles in the database: store what ingest read, the resolution of outlets, and views.

``store_article`` turns an :class:`~archive.ingest.ArticleDoc` into an Article
with its Claims and Citations (links, DOIs, outlets), linking each link to the
claims in or next to its sentence. ``save_resolution`` records an outlet's
candidates with their evidence, tracks the best as Sources (the front page
always), and links the claims they support. ``article_view`` is the one shape
``citewatch citations --json`` prints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive import index
from archive.claims import ClaimDraft, extract_claims, sentences
from archive.errors import NotFoundError
from archive.ingest import ArticleDoc
from archive.models import MAX_ID, Article, Candidate, Citation, Claim, Outlet, Snapshot, Source
from archive.outlet_names import find_outlets, unknown_outlets
from archive.resolve import Scored, claims_supported, naive_utc


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
        for c in article.claims
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
    """Store (or, added again, refresh in place) an article with its claims and citations.
    Returns the article and whether it was known before. Sources and captures are kept."""
    article = same_article(session, doc)
    known = article is not None
    if article is None:
        article = Article(added_at=now)
        session.add(article)
    else:  # read again from scratch: its claims, citations and candidates are replaced
        article.citations.clear()
        article.claims.clear()
        session.flush()
    article.url, article.canonical_url, article.text = doc.url, doc.canonical_url, doc.text
    article.title, article.author, article.published_at = doc.title, doc.author, doc.published
    article.input_kind, article.source_id = doc.input_kind, source_id
    drafts = extract_claims(doc.text)
    article.claims = [Claim(position=d.position, text=d.text, terms=d.terms()) for d in drafts]
    _add_links(session, article, doc, now)
    _add_outlets(session, article, doc.text, outlets, now, resolve)
    session.flush()
    return article, known


def _add_links(session: Session, article: Article, doc: ArticleDoc, now: datetime) -> None:
    all_sentences = sentences(doc.text)
    urls = [link.url for link in doc.links]
    sources = index.source_ids(session, urls, now) if urls else {}
    for position, link in enumerate(doc.links):
        citation = Citation(
            kind=link.kind,
            url=link.url,
            source_id=sources[link.url],
            anchor_text=link.anchor,
            context=link.context,
            position=position,
            resolution={"status": "direct"},
        )
        article.citations.append(citation)  # before its claims: they must find it in the session
        citation.claims = _claims_near(article.claims, _sentence_index(all_sentences, link.context))


def _add_outlets(
    session: Session, article: Article, text: str, outlets: dict[str, str], now: datetime, resolve: bool
) -> None:
    pending = (
        {"status": "pending"}
        if resolve
        else {"status": "not resolved", "reason": "skipped (--no-resolve); add the article again to resolve"}
    )
    cited = {c.url.split("://", 1)[-1].rstrip("/").lower() for c in article.citations if c.url}
    for mention in find_outlets(text, outlets):
        written = mention.name.split("://", 1)[-1].rstrip("/").lower()
        if "/" in written and any(url.startswith(written) for url in cited):
            continue  # a URL written in a source list is a link citation already
        outlet = _outlet(session, mention.domain, mention.name[:200], now)
        article.citations.append(
            Citation(
                kind="outlet",
                outlet_id=outlet.id,
                anchor_text=mention.name,
                context=mention.context,
                position=len(article.citations),
                resolution={**pending, "pattern": mention.pattern},
            )
        )
    for name in unknown_outlets(text, outlets):
        reason = f"no domain known for {name!r}: add it under [outlets] in citewatch.toml"
        article.citations.append(
            Citation(
                kind="outlet",
                anchor_text=name,
                position=len(article.citations),
                resolution={"status": "unresolved", "reason": reason},
            )
        )


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
    """Candidates with evidence; the best above ``threshold`` and the front page become Sources."""
    tracked = [s for s in ranked if s.confirmed and s.score >= threshold][:max_sources]
    track_urls = [s.entry.url for s in tracked] + ([front_url] if front_url else [])
    sources = index.source_ids(session, track_urls, now) if track_urls else {}
    outlet_id = citation.outlet_id
    for sid in sources.values():
        source = session.get(Source, sid)
        if source is not None and source.outlet_id is None:
            source.outlet_id = outlet_id
    citation.candidates = [_candidate(s, rank, sources.get(s.entry.url)) for rank, s in enumerate(ranked, 1)]
    if tracked:
        citation.source_id = sources[tracked[0].entry.url]
        supported = {p for s in tracked for p in claims_supported(s)}
        citation.claims = [c for c in citation.article.claims if c.position in supported]
        status, reason = "resolved", None
    else:
        best = ranked[0].score if ranked else None
        status = "unresolved"
        reason = "no candidates found" if not ranked else f"best score {best:.2f} is below {threshold:.2f}"
    citation.resolution = {
        **(citation.resolution or {}),
        "status": status,
        "reason": reason,
        "front_page": front_url,
        **report,
    }


def _candidate(scored: Scored, rank: int, source_id: int | None) -> Candidate:
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
        "outcome": snap.outcome,
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


def _citation_view(session: Session, citation: Citation, top: int) -> dict[str, Any]:
    outlet = session.get(Outlet, citation.outlet_id) if citation.outlet_id else None
    shown = _shown_candidates(session, citation, top)
    tracked = [c for c in shown if c.source_id is not None]
    sources = [
        {"url": c.url, "score": c.score, "capture": latest_capture(session, c.source_id)} for c in tracked
    ]
    if citation.source_id and not tracked:
        url = _source_url(session, citation.source_id)
        sources = [{"url": url, "capture": latest_capture(session, citation.source_id)}]
    front = (citation.resolution or {}).get("front_page")
    front_id = session.scalars(select(Source.id).where(Source.url == front)).first() if front else None
    return {
        "id": citation.id,
        "kind": citation.kind,
        "url": citation.url,
        "outlet": outlet.domain if outlet else None,
        "name": citation.anchor_text,
        "context": citation.context,
        "claims": sorted(c.id for c in citation.claims),
        "resolution": citation.resolution or {},
        "sources": sources,
        "front_page": {"url": front, "capture": latest_capture(session, front_id)} if front else None,
        "candidates": [_candidate_view(c) for c in shown if c.rank <= top],
    }


def _candidate_view(candidate: Candidate) -> dict[str, Any]:
    return {
        "rank": candidate.rank,
        "url": candidate.url,
        "title": candidate.title,
        "published": candidate.published_at.isoformat() if candidate.published_at else None,
        "found_via": candidate.found_via,
        "score": candidate.score,
        "confirmed": candidate.confirmed,
        "tracked": candidate.source_id is not None,
        "evidence": candidate.evidence,
    }


def article_view(session: Session, article: Article, top: int = 10) -> dict[str, Any]:
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
                "id": c.id,
                "position": c.position,
                "text": c.text,
                "terms": c.terms,
                "citations": [x.id for x in c.citations],
            }
            for c in article.claims
        ],
        "citations": [_citation_view(session, c, top) for c in sorted(article.citations, key=_order)],
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
    claims = select(func.count()).where(Claim.article_id == Article.id).scalar_subquery()
    cites = select(func.count()).where(Citation.article_id == Article.id).scalar_subquery()
    rows = session.execute(select(Article.id, Article.title, Article.url, claims, cites).order_by(Article.id))
    return [{"id": i, "title": t, "url": u, "claims": n, "citations": m} for i, t, u, n, m in rows]
