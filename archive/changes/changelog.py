"""The change log, for people and programs: listing, Atom, and the diff between two captures.

:func:`list_changes` pages through Changes newest first with a keyset
(``before``: the last change id of the previous page), so page 1,000 costs
what page 1 does; every filter is served by an index of ``changes`` or a
short list of source ids. :func:`change_dict` is the one JSON shape of a
change (CLI ``--json``, Atom entries, later the API). :func:`load_diff`
compares the extracted text of any two snapshots, and ``render_*`` present
it: a terminal with colour (or ``[-deleted-]{+inserted+}`` markers when
piped), a standalone HTML page with every archived word escaped, or JSON.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CompoundSelect, Select, func, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, object_session

from archive.changes.diff import DELETE, EQUAL, INSERT, TextDiff, word_diff
from archive.clock import utcnow
from archive.errors import CitewatchError, NotFoundError, UsageError
from archive.models import Article, Change, Outlet, Snapshot, Source

# `--kind status` also lists the status changes that are gone or back.
KIND_GROUPS = {"status": ("status", "gone", "back")}


def analysis_dict(found: Any) -> dict[str, Any] | None:
    """The JSON of what the analysis of one capture found (archive.changes.analysis.SourceAnalysis)."""
    if found is None:
        return None
    return {
        "state": found.state,
        "reason": found.reason,
        "snapshot_id": found.snapshot_id,
        "change": change_dict(found.change, found.url) if found.change is not None else None,
        "changes": [change_dict(c, found.url) for c in found.changes],
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() + "Z" if when is not None else None


def change_dict(change: Change, url: str) -> dict[str, Any]:
    """One change, as every JSON listing shows it."""
    details = change.details or {}
    claims = details.get("claims", [])
    session = object_session(change)
    if claims and session is not None:
        from archive.articles.storage import claim_numbers_of

        numbers = claim_numbers_of(session, {c["article_id"] for c in claims if "article_id" in c})
        claims = [{**c, "claim_number": numbers.get(c.get("claim_id", -1))} for c in claims]
    return {
        "id": change.id,
        "detected_at": _iso(change.detected_at),
        "kind": change.kind,
        "source_id": change.source_id,
        "url": url,
        "summary": change.summary,
        "old_snapshot_id": change.old_snapshot_id,
        "new_snapshot_id": change.new_snapshot_id,
        "significance": details.get("significance"),
        # None for a change that compared no texts (gone, back, status): `citewatch diff` counts
        # the words of the captures themselves.
        "words_added": details.get("words_added"),
        "words_removed": details.get("words_removed"),
        "claims": claims,  # each with its claim_number in the article (None: no longer in it)
        "details": details,
    }


# -- listing -----------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """A time given by a user: ISO 8601 (a date, or a date and time; UTC unless it says
    otherwise) or an age such as ``2h``, ``7d``, ``3w``. Naive UTC, as the database keeps it.

    >>> parse_when("2026-11-20")
    datetime.datetime(2026, 11, 20, 0, 0)
    >>> parse_when("3d", now=datetime(2026, 11, 26, 12, 0))
    datetime.datetime(2026, 11, 23, 12, 0)
    """
    raw = text.strip()
    age = _RELATIVE.match(raw.lower())
    try:
        if age:
            base = now or utcnow()
            return base - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        return when
    except (ValueError, OverflowError):
        raise UsageError(
            f"cannot read the time {text!r}: give an ISO date (2026-11-20), a date and time "
            "(2026-11-20T14:00), or an age (2h, 7d), after the year 1"
        ) from None


def sources_matching(
    session: Session, *, url: str | None = None, article: str | None = None, outlet: str | None = None
) -> list[int] | None:
    """Ids of the sources that pass the change log's filters (None: no filter, all of them):
    this source URL, the sources this article (id or URL) cites, the sources of this outlet.
    An unknown URL, article or outlet is a one-line error."""
    ids: list[int] | None = None
    if url is not None:
        from archive.urls import check_url

        found = session.scalars(select(Source.id).where(Source.url.in_({url, check_url(url)})))
        ids = list(found)
        if not ids:
            raise NotFoundError(f"{url} is not a tracked source: see `citewatch snapshots URL`")
    if article is not None:
        from archive.articles.storage import require_article, sources_of_article  # not for every listing

        cited = sources_of_article(session, require_article(session, article).id)
        ids = cited if ids is None else [i for i in ids if i in cited]
    if outlet is not None:
        on_outlet = sources_of_outlet(session, outlet)
        if on_outlet is None:
            raise NotFoundError(f"no outlet {outlet!r}: no source is on that domain")
        ids = on_outlet if ids is None else [i for i in ids if i in on_outlet]
    return ids


def sources_of_outlet(session: Session, domain: str) -> list[int] | None:
    """Ids of the sources of an outlet (a registered domain such as ``kyivindependent.com``): those
    resolution tied to it, and every source on the domain or one of its subdomains (by SURT
    prefix). None when citewatch knows no such outlet and no source on it."""
    domain = domain.strip().lower().removeprefix("www.").rstrip(".")
    host = ",".join(reversed(domain.split(".")))
    linked = select(Source.id).join(Outlet, Source.outlet_id == Outlet.id).where(Outlet.domain == domain)
    on_domain = select(Source.id).where(
        or_(*(Source.surt.startswith(host + end, autoescape=True) for end in (")", ":", ",")))
    )  # the host itself, with a port, and its subdomains
    found = set(session.scalars(linked)) | set(session.scalars(on_domain))
    known = session.scalars(select(Outlet.id).where(Outlet.domain == domain)).first() is not None
    return sorted(found) if found or known else None


def change_counts(session: Session, source_ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """Source id -> (how many changes it has, when the newest was detected), for these sources;
    sources without changes are left out."""
    if not source_ids:
        return {}
    stmt = (
        select(Change.source_id, func.count(), func.max(Change.detected_at))
        .where(Change.source_id.in_(source_ids))
        .group_by(Change.source_id)
    )
    return {sid: (int(n), last) for sid, n, last in session.execute(stmt)}


def list_changes(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    source_ids: list[int] | None = None,
    kinds: list[str] | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[tuple[Change, str]]:
    """Changes newest first, with their sources' URLs; ``before`` is a change id (keyset)."""
    newest = (Change.detected_at.desc(), Change.id.desc())
    ids: Select[int] | CompoundSelect[int]  # a union of the kinds' newest, when several are asked for
    ids = select(Change.id)
    if since is not None:
        ids = ids.where(Change.detected_at >= since)
    if until is not None:
        ids = ids.where(Change.detected_at < until)
    if source_ids is not None:
        ids = ids.where(Change.source_id.in_(source_ids or [-1]))
    if before is not None:
        anchor = session.get(Change, before)
        if anchor is None:
            raise UsageError(f"no change {before}: --before takes the id of a listed change")
        ids = ids.where(tuple_(Change.detected_at, Change.id) < tuple_(anchor.detected_at, anchor.id))
    wanted = sorted({k for kind in kinds or () for k in KIND_GROUPS.get(kind, (kind,))})
    if wanted:  # the kinds come with the classifier, which imports the claim parser: only when asked
        from archive.changes.classify import KINDS

        unknown = [k for k in wanted if k not in KINDS]
        if unknown:
            raise UsageError(f"unknown kind {unknown[0]!r}: choose from {', '.join(KINDS)}")
    if len(wanted) == 1:
        ids = ids.where(Change.kind == wanted[0])
    elif wanted:
        # Newest of each kind through its (kind, detected_at, id) index, then merged: one IN
        # over several kinds would sort every change of those kinds.
        per_kind = [ids.where(Change.kind == k).order_by(*newest).limit(limit).subquery() for k in wanted]
        ids = union_all(*(select(sub.c.id) for sub in per_kind))
    if not wanted or len(wanted) == 1:
        ids = ids.order_by(*newest).limit(limit)
    stmt = (
        select(Change, Source.url)
        .join(Source, Change.source_id == Source.id)
        .where(Change.id.in_(ids.subquery().select()))
        .order_by(*newest)
        .limit(limit)
    )
    return [(change, url) for change, url in session.execute(stmt)]


def change_link(public_url: str, change_id: int) -> str:
    """The web UI's page of a change (``public_url`` ends in ``/``).

    >>> change_link("http://127.0.0.1:8080/", 88)
    'http://127.0.0.1:8080/changes/88'
    """
    return f"{public_url}changes/{change_id}"


def touched_articles(change: Mapping[str, Any]) -> list[int]:
    """Ids of the articles whose claims a change (as :func:`change_dict` shows it) touches:
    changed or lost support; in the order of its claims.

    >>> touched_articles({"claims": [{"article_id": 4, "status": "changed"},
    ...     {"article_id": 2, "status": "unaffected"}, {"article_id": 4, "status": "lost-support"}]})
    [4]
    """
    touched = (c.get("article_id") for c in change.get("claims") or () if c.get("status") != "unaffected")
    return list(dict.fromkeys(i for i in touched if i is not None))


def article_titles(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Article id -> its title (or its URL, or ``article N``, when it has none)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Article.id, Article.title, Article.url).where(Article.id.in_(wanted)))
    return {i: title or url or f"article {i}" for i, title, url in rows}


def titles_of(session: Session, rows: list[tuple[Change, str]]) -> dict[int, str]:
    """The titles of the articles whose claims these changes touch (for :func:`atom_feed`)."""
    return article_titles(session, (i for c, url in rows for i in touched_articles(change_dict(c, url))))


def change_text(change: Mapping[str, Any], titles: Mapping[int, str]) -> str:
    """What a feed entry or a notification says of a change, in full: its summary, the articles
    whose claims it touches (by title), and each correction note it found that the summary does
    not quote whole.

    >>> print(change_text({"summary": "correction note: Updated with data for…; 1 sentence added",
    ...     "claims": [{"article_id": 3, "status": "changed"}],
    ...     "details": {"corrections": ["Updated with data for March."]}}, {3: "Cases soar"}))
    correction note: Updated with data for…; 1 sentence added
    Claims touched in: “Cases soar”
    Correction note: Updated with data for March.
    """
    summary = change.get("summary") or change.get("kind") or ""
    lines = [summary]
    touched = [titles.get(i, f"article {i}") for i in touched_articles(change)]
    if touched:
        lines.append("Claims touched in: " + ", ".join(f"\u201c{t}\u201d" for t in touched))
    notes = (change.get("details") or {}).get("corrections") or []
    lines += [f"Correction note: {note}" for note in notes if note not in summary]
    return "\n".join(lines)


def atom_feed(
    rows: list[tuple[Change, str]],
    *,
    title: str,
    feed_id: str,
    public_url: str,
    titles: Mapping[int, str] | None = None,
    link: str | None = None,
) -> bytes:
    """An Atom feed of changes (newest first). Each entry links to the change's page in the web
    UI (``public_url``) and is titled with the kind and the source's URL; its summary is
    :func:`change_text`, with ``titles`` (article id -> title, :func:`titles_of`) naming the
    articles touched."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(feed_id)
    feed.title(title)
    feed.link(href=link or feed_id, rel="self")
    feed.generator("citewatch")
    newest = max((c.detected_at for c, _ in rows), default=datetime(1970, 1, 1))
    feed.updated(newest.replace(tzinfo=UTC))
    for change, url in reversed(rows):  # feedgen puts the last added first
        entry = feed.add_entry()
        entry.id(f"urn:citewatch:change:{change.id}")
        entry.title(f"{change.kind}: {url}")
        # One link: feedgen 1.0 writes an entry's links without their rel, so a second one (the
        # source) would be a second alternate. The title names the source.
        entry.link(href=change_link(public_url, change.id))
        entry.updated(change.detected_at.replace(tzinfo=UTC))
        entry.published(change.detected_at.replace(tzinfo=UTC))
        entry.category(term=change.kind)
        entry.summary(change_text(change_dict(change, url), titles or {}))
    return cast(bytes, feed.atom_str(pretty=True))  # feedgen is untyped


# -- diffs ---------------------------------------------------------------------------


@dataclass
class Side:
    snapshot: Snapshot
    text: str  # comparable text (volatile lines and tokens dropped)
    title: str | None
    words: int


@dataclass
class DiffView:
    old: Side
    new: Side
    diff: TextDiff
    sentences_removed: list[str]
    sentences_added: list[str]
    change: Change | None = None  # the recorded change between these two snapshots, if any
    source_url: str | None = None
    claims: list[dict[str, Any]] = field(default_factory=list)  # the change's claims, numbered

    def claim_lines(self) -> list[str]:
        """The recorded change's effect on claims, one line per claim it touches."""
        claims = self.claims
        return [
            f"claim {c.get('claim_number') or '(no longer in the article)'} of article {c['article_id']}"
            f" ({c['status']}): {c['text']}"
            for c in claims
            if c["status"] != "unaffected"
        ]

    def paragraphs(self, context: bool = True) -> list[list[tuple[int, str]]]:
        """The diff cut into paragraphs (lines of the extracted text): each a list of (op, text);
        only those with an edit unless ``context`` (the one rule of every diff output)."""
        if not context:
            return [p for p in self.paragraphs() if any(op != EQUAL for op, _ in p)]
        paragraphs: list[list[tuple[int, str]]] = [[]]
        for op, text in self.diff.ops:
            parts = text.split("\n")
            for i, part in enumerate(parts):
                if i:
                    paragraphs.append([])
                if part:
                    paragraphs[-1].append((op, part))
        return [p for p in paragraphs if any(text.strip() for _, text in p)]


def _observe(session: Session, analyser: Any, snapshot_id: int) -> tuple[Snapshot, Any]:
    """A snapshot and what it shows (a browser capture's page id gives its rendered DOM)."""
    row = session.get(Snapshot, snapshot_id)
    if row is None:
        raise UsageError(f"no snapshot {snapshot_id}: see `citewatch snapshots URL` for ids")
    dom = session.scalars(
        select(Snapshot)
        .where(Snapshot.page_id == row.id, Snapshot.url.startswith("urn:dom:"))
        .order_by(Snapshot.id.desc())  # the latest, as analysis counts it
        .limit(1)
    ).first()
    shown = dom or row
    if shown.record_type is None:
        raise UsageError(
            f"snapshot {snapshot_id} is a failed fetch ({row.outcome}): it has no text to compare"
        )
    source = session.get(Source, row.source_id) if row.source_id else None
    obs = analyser.observation(shown, source.url if source else row.url, row if dom else None)
    if obs.outcome == "unreadable":
        raise CitewatchError(f"snapshot {snapshot_id}: {obs.error}")
    return row, obs


def _article_bodies(session: Session, analyser: Any, old: Any, new: Any) -> tuple[str, str]:
    """Two captures' whole texts as a change found in the text the main extraction leaves out
    compared them (``classify.article_texts``), noise dropped."""
    from archive.changes.classify import article_texts, comparable_text

    wholes = [analyser.whole_text(session.get(Snapshot, obs.snapshot_id)) or "" for obs in (old, new)]
    a, b = article_texts(old, new, *wholes)
    titles = (old.title, new.title)
    return comparable_text(a, titles), comparable_text(b, titles)


def load_diff(session: Session, warc_dir: Path, old_id: int, new_id: int) -> DiffView:
    """The word diff of the extracted text of two snapshots, as change detection compares them:
    noise dropped, headlines inside the body set aside. A read: it writes nothing (a text not
    yet extracted is extracted for this view only; analysis stores it)."""
    from archive.changes.analysis import Analyser
    from archive.changes.classify import comparable_text, sentence_changes

    analyser = Analyser(session, warc_dir, keep=False)
    (old_row, old), (new_row, new) = _observe(session, analyser, old_id), _observe(session, analyser, new_id)
    titles = (old.title, new.title)
    a, b = comparable_text(old.text, titles), comparable_text(new.text, titles)
    change = session.scalars(
        select(Change).where(Change.old_snapshot_id == old_id, Change.new_snapshot_id == new_id)
    ).first()
    if change is not None and (change.details or {}).get("compared") == "article body":
        a, b = _article_bodies(session, analyser, old, new)  # what that change compared
    sides = [Side(old_row, a, old.title, len(a.split())), Side(new_row, b, new.title, len(b.split()))]
    removed, added, _moved = sentence_changes(a, b)
    url = session.get(Source, change.source_id).url if change is not None else None  # type: ignore[union-attr]  # source_id: a NOT NULL foreign key
    claims = change_dict(change, url or "")["claims"] if change is not None else []  # numbered while open
    return DiffView(sides[0], sides[1], word_diff(a, b), removed, added, change, url, claims)


_OPS = {DELETE: "delete", EQUAL: "equal", INSERT: "insert"}


def _side_dict(side: Side) -> dict[str, Any]:
    s = side.snapshot
    return {
        "snapshot_id": s.id,
        "url": s.url,
        "captured_at": _iso(s.captured_at),
        "status": s.status,
        "title": side.title,
        "words": side.words,
    }


def diff_dict(view: DiffView, context: bool = True) -> dict[str, Any]:
    """The structured diff: both sides, counts, changed sentences, and paragraphs of pieces (the
    changed ones only, unless ``context``)."""
    return {
        "old": _side_dict(view.old),
        "new": _side_dict(view.new),
        "changed": view.diff.changed,
        "words_added": view.diff.words_added,
        "words_removed": view.diff.words_removed,
        "sentences_removed": view.sentences_removed,
        "sentences_added": view.sentences_added,
        "change": change_dict(view.change, view.source_url or "") if view.change is not None else None,
        "paragraphs": [
            {
                "changed": any(op != EQUAL for op, _ in paragraph),
                "pieces": [{"op": _OPS[op], "text": text} for op, text in paragraph],
            }
            for paragraph in view.paragraphs(context)
        ],
    }


def render_markers(view: DiffView, context: bool = False) -> str:
    """Plain text with ``[-deleted-]`` and ``{+inserted+}`` (git's word-diff markers); only the
    changed paragraphs unless ``context``."""
    out = []
    for paragraph in view.paragraphs(context):
        out.append(
            "".join(
                text if op == EQUAL else f"[-{text}-]" if op == DELETE else f"{{+{text}+}}"
                for op, text in paragraph
            )
        )
    return "\n\n".join(out)


def render_html(view: DiffView, context: bool = False) -> str:
    """A standalone HTML page of the diff (the changed paragraphs only, unless ``context``);
    every archived word is escaped, no script runs."""
    e = html.escape
    rows = [] if view.diff.changed else ["<p class=same>No difference in the extracted text.</p>"]
    for paragraph in view.paragraphs(context):
        pieces = "".join(
            e(text) if op == EQUAL else f"<del>{e(text)}</del>" if op == DELETE else f"<ins>{e(text)}</ins>"
            for op, text in paragraph
        )
        changed = " class=changed" if any(op != EQUAL for op, _ in paragraph) else ""
        rows.append(f"<p{changed}>{pieces}</p>")
    old, new = view.old.snapshot, view.new.snapshot
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>citewatch diff {old.id} {new.id}</title>
<style>
body {{ font: 16px/1.5 Georgia, serif; max-width: 46em; margin: 2em auto; padding: 0 1em; color: #222; }}
header {{ font: 14px/1.4 system-ui, sans-serif; color: #555; border-bottom: 1px solid #ddd; }}
del {{ background: #fdd; color: #900; }} ins {{ background: #dfd; color: #060; text-decoration: none; }}
p {{ color: #888; }} p.changed {{ color: #222; }}
</style></head><body>
<header><h1>{e(view.new.title or new.url)}</h1>
<p>{e(old.url)}<br>before: snapshot {old.id}, {e(_iso(old.captured_at) or "")}, {view.old.words} words<br>
after: snapshot {new.id}, {e(_iso(new.captured_at) or "")}, {view.new.words} words<br>
<strong>+{view.diff.words_added}</strong> / <strong>-{view.diff.words_removed}</strong> words</p>
{"".join(f"<p class=claim>{e(line)}</p>" for line in view.claim_lines())}</header>
{chr(10).join(rows)}
</body></html>
"""


__all__ = [
    "DiffView",
    "analysis_dict",
    "article_titles",
    "atom_feed",
    "change_counts",
    "change_dict",
    "change_link",
    "change_text",
    "diff_dict",
    "list_changes",
    "load_diff",
    "parse_when",
    "render_html",
    "render_markers",
    "sources_of_outlet",
    "titles_of",
    "touched_articles",
]
