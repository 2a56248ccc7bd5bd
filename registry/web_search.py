"""The home and search pages: query parsing (never trusting the input), paging and suggestions."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response

from nnparts.registry.catalog import SORTS, Filters, ModuleRow

if TYPE_CHECKING:
    from nnparts.registry.web import View

MAX_QUERY = 200
PAGE_SIZE = 25
MAX_PAGE = 100_000
LATEST = 10
#: Columns sorted from high to low unless ``order`` says otherwise.
DESCENDING_FIRST = frozenset({"published", "accuracy"})
COLUMNS = (
    ("class", "Class"),
    ("origin", "Origin model"),
    ("method", "Method"),
    ("density", "Density"),
    ("accuracy", "Accuracy"),
    ("size", "Size"),
    ("published", "Published"),
)


@dataclass
class Query:
    """A search as understood, plus ``notices`` about what was changed or ignored."""

    q: str = ""
    sort: str = "published"
    descending: bool = True
    method: str = ""
    origin: str = ""
    min_accuracy: float | None = None
    max_density: float | None = None
    yanked: bool = False
    page: int = 1
    notices: list[str] = field(default_factory=list)

    def params(self, **changes: Any) -> dict[str, str]:
        """URL parameters of this query (empty ones left out), with ``changes`` applied."""
        values: dict[str, Any] = {
            "q": self.q,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "method": self.method,
            "origin": self.origin,
            "min_accuracy": "" if self.min_accuracy is None else f"{self.min_accuracy:g}",
            "max_density": "" if self.max_density is None else f"{self.max_density:g}",
            "yanked": "1" if self.yanked else "",
            "page": "" if self.page == 1 else str(self.page),
        } | changes
        return {k: str(v) for k, v in values.items() if v not in ("", None)}

    def url(self, **changes: Any) -> str:
        return "/search?" + urlencode(self.params(**changes))

    def sort_url(self, column: str) -> str:
        """Link of a column header: sort by it, or flip the order when it is the current sort."""
        if column == self.sort:
            return self.url(order="asc" if self.descending else "desc", page="")
        return self.url(sort=column, order="desc" if column in DESCENDING_FIRST else "asc", page="")


def parse_query(params: Any) -> Query:
    """Read the search parameters; anything malformed becomes a default plus a notice."""
    query = Query()
    q = _clean(params.get("q", ""))
    if len(q) > MAX_QUERY:
        query.notices.append(
            f"Your search was {len(q)} characters long; only the first {MAX_QUERY} were used."
        )
        q = q[:MAX_QUERY].strip()
    query.q = q
    sort = params.get("sort", "published")
    if sort in SORTS:
        query.sort = sort
    else:
        query.notices.append(f"Cannot sort by {_short(sort)!r}; sorted by publish date instead.")
    order = params.get("order", "")
    query.descending = order == "desc" if order in ("asc", "desc") else query.sort in DESCENDING_FIRST
    query.method = _clean(params.get("method", ""))[:MAX_QUERY]
    query.origin = _clean(params.get("origin", ""))[:MAX_QUERY]
    query.min_accuracy = _fraction(params, "min_accuracy", query.notices)
    query.max_density = _fraction(params, "max_density", query.notices)
    query.yanked = params.get("yanked", "") in ("1", "on", "true")
    page = params.get("page", "1") or "1"
    if page.isdigit() and 1 <= int(page) <= MAX_PAGE:
        query.page = int(page)
    else:
        query.notices.append(f"Page {_short(page)!r} does not exist; showing the first page.")
    return query


def _clean(text: str) -> str:
    """Collapse whitespace and drop control characters (templates escape the rest)."""
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"


def _fraction(params: Any, name: str, notices: list[str]) -> float | None:
    raw = (params.get(name, "") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw[:40].rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        notices.append(f"{name.replace('_', ' ')} must be a number from 0 to 1; {_short(raw)!r} was ignored.")
        return None
    return value


async def home(view: View, match: re.Match[str]) -> Response:
    """Search box, counts of modules, origins and classes, and the latest publishes."""
    stats = await view.run(view.catalog.stats, view.visible)
    latest, _ = await view.run(view.catalog.search, Filters(visible=view.visible), limit=LATEST)
    return view.render("home.html", stats=stats, latest=latest, query=Query())


async def search(view: View, match: re.Match[str]) -> Response:
    """One row per module version; sortable, filterable, paginated. Unknown classes get suggestions."""
    query = parse_query(view.request.query_params)
    term = query.q.casefold()
    filters = Filters(
        visible=view.visible,
        term=term,
        origin=query.origin,
        method=query.method,
        min_accuracy=query.min_accuracy,
        max_density=query.max_density,
        include_yanked=query.yanked,
    )
    rows, total, partial = await view.run(_find, view, filters, query)
    unknown, suggestions = False, []
    if term and total == 0:
        unknown, suggestions = await view.run(_unknown_class, view, term)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if query.page > pages:
        query.notices.append(f"There are only {pages} page(s) of results.")
    return view.render(
        "search.html",
        query=query,
        rows=rows,
        total=total,
        partial=partial,
        unknown=unknown,
        suggestions=suggestions,
        pages=page_links(query.page, pages),
        page_count=pages,
        columns=COLUMNS,
        origins=await view.run(view.catalog.distinct, "origin", view.visible),
        methods=await view.run(view.catalog.distinct, "method", view.visible),
    )


def _find(view: View, filters: Filters, query: Query) -> tuple[list[ModuleRow], int, bool]:
    """Exact class-name/alias matches; if none, substring matches (``partial=True``)."""
    offset = (query.page - 1) * PAGE_SIZE

    def search(f: Filters) -> tuple[list[ModuleRow], int]:
        return view.catalog.search(
            f, sort=query.sort, descending=query.descending, offset=offset, limit=PAGE_SIZE
        )

    rows, total = search(filters)
    if total or not filters.term:
        return rows, total, False
    rows, total = search(dataclasses.replace(filters, exact=False))
    return rows, total, total > 0


def _unknown_class(view: View, term: str) -> tuple[bool, list[str]]:
    """Whether no visible module answers to ``term`` at all, and the nearest known names."""
    probe = Filters(visible=view.visible, term=term, exact=False, include_yanked=True)
    if view.catalog.search(probe, limit=1)[1]:
        return False, []
    return True, difflib.get_close_matches(term, view.catalog.terms(view.visible), n=5, cutoff=0.5)


def page_links(current: int, pages: int, *, window: int = 3) -> list[int | None]:
    """Page numbers to link: the first, the last and ``window`` around ``current``; ``None`` = gap."""
    shown = sorted({1, pages, *range(max(1, current - window), min(pages, current + window) + 1)})
    out: list[int | None] = []
    previous = 0
    for n in shown:
        if previous and n - previous > 1:
            out.append(None)
        out.append(n)
        previous = n
    return out
