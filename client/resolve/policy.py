"""The resolver: which published module answers each requested class. Pure, torch-free, no I/O.

Policy, in order (each step only narrows the previous step's candidates for a class):

1. **Hard filters**: not yanked; provides the class (name or alias, case-insensitive); a class
   module or sub-model; accuracy ≥ ``min_accuracy``; density ≤ ``max_density``; input spec equal to
   ``input`` (channels, height, width) when one is required.
2. **Registry priority**: only candidates from the first registry (in the order given) that has any.
   **Latest release**: of one module id, only its highest version (as pip installs the newest
   release; pin with a lockfile).
3. **Preferred origin**: if ``prefer`` names an origin with a candidate, only that origin's.
4. **Near-best accuracy**: candidates within ``tolerance`` of the class's best accuracy.
5. **Fewest origins**: a greedy set cover over the remaining candidates' origins across all
   requested classes (the origin answering most classes first; ties to the smaller download, then
   the higher mean accuracy).
6. **Smallest** download (bytes), then highest accuracy, then id and version (deterministic).

Every step's losers are kept in the :class:`Pick` with the reason, for ``--explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nnparts.index.search import nearest_classes
from nnparts.index.search import version_key as version_key  # the one order, re-exported
from nnparts.schemas.errors import ResolutionError, UnknownClass, UsageError
from nnparts.schemas.index_entry import IndexEntry


@dataclass(frozen=True)
class Constraints:
    min_accuracy: float = 0.0
    max_density: float = 1.0
    prefer: str | None = None
    input: tuple[int, int, int] | None = None
    tolerance: float = 0.005
    kinds: tuple[str, ...] = ("class_module", "sub_model")

    def __post_init__(self) -> None:
        # "not a <= x <= b" also refuses NaN
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise UsageError(f"--min-accuracy must be a fraction in [0, 1], got {self.min_accuracy}")
        if not 0.0 < self.max_density <= 1.0:
            raise UsageError(f"--max-density must be a fraction in (0, 1], got {self.max_density}")
        if not 0.0 <= self.tolerance <= 1.0:
            raise UsageError(f"tolerance must be a fraction in [0, 1], got {self.tolerance}")


@dataclass(frozen=True)
class Source:
    """One registry's entries, in priority order among the sources."""

    name: str
    url: str
    entries: tuple[IndexEntry, ...]


@dataclass(frozen=True)
class Rival:
    entry: IndexEntry
    registry: str
    reason: str


@dataclass(frozen=True)
class Pick:
    requested: str
    class_name: str
    entry: IndexEntry
    registry: str
    rivals: tuple[Rival, ...] = ()


@dataclass(frozen=True)
class Plan:
    picks: tuple[Pick, ...]
    constraints: Constraints = field(default_factory=Constraints)

    @property
    def modules(self) -> list[Pick]:
        """One pick per distinct module (a sub-model may answer several requested classes)."""
        seen: dict[tuple[str, str], Pick] = {}
        for p in self.picks:
            seen.setdefault((p.entry.id, p.entry.version), p)
        return list(seen.values())

    @property
    def origins(self) -> list[str]:
        return sorted({p.entry.origin for p in self.picks})


def _reject(e: IndexEntry, query: str, c: Constraints) -> str | None:
    if e.yanked:
        return "yanked"
    if not e.matches(query):
        return "does not provide the class"
    if e.kind not in c.kinds:
        return f"kind {e.kind} cannot be installed as a part"
    if e.accuracy < c.min_accuracy:
        return f"accuracy {e.accuracy:.4f} < --min-accuracy {c.min_accuracy}"
    if e.density > c.max_density:
        return f"density {e.density:.3f} > --max-density {c.max_density}"
    if c.input is not None and tuple(e.input) != tuple(c.input):
        return f"input {'x'.join(map(str, e.input))} != required {'x'.join(map(str, c.input))}"
    return None


def _candidates(
    query: str, sources: Sequence[Source], c: Constraints
) -> tuple[list[tuple[IndexEntry, str]], list[Rival]]:
    rivals: list[Rival] = []
    chosen_registry: str | None = None
    kept: list[tuple[IndexEntry, str]] = []
    for src in sources:
        for e in src.entries:
            if not e.matches(query):
                continue
            reason = _reject(e, query, c)
            if reason:
                rivals.append(Rival(e, src.name, reason))
            elif chosen_registry in (None, src.name):
                chosen_registry = src.name
                kept.append((e, src.name))
            else:
                rivals.append(
                    Rival(e, src.name, f"registry {src.name} has lower priority than {chosen_registry}")
                )
    latest: dict[str, IndexEntry] = {}
    for e, _ in kept:
        if e.id not in latest or version_key(e.version) > version_key(latest[e.id].version):
            latest[e.id] = e
    for e, r in kept:
        if latest[e.id] is not e:
            rivals.append(Rival(e, r, f"older than {latest[e.id].ref}"))
    kept = [(e, r) for e, r in kept if latest[e.id] is e]
    if c.prefer and any(e.origin == c.prefer for e, _ in kept):
        for e, r in kept:
            if e.origin != c.prefer:
                rivals.append(Rival(e, r, f"--prefer {c.prefer}"))
        kept = [(e, r) for e, r in kept if e.origin == c.prefer]
    if kept:
        best = max(e.accuracy for e, _ in kept)
        for e, r in kept:
            if e.accuracy < best - c.tolerance:
                rivals.append(
                    Rival(
                        e,
                        r,
                        f"accuracy {e.accuracy:.4f} below the best {best:.4f} by more than {c.tolerance}",
                    )
                )
        kept = [(e, r) for e, r in kept if e.accuracy >= best - c.tolerance]
    return kept, rivals


def resolve(
    requested: Sequence[str], sources: Sequence[Source], constraints: Constraints | None = None
) -> Plan:
    """Pick one module per requested class name.

    Raises:
        UnknownClass: no registry knows a requested class (lists the nearest known names).
        ResolutionError: the class is known but no module passes the constraints (lists why).
    """
    c = constraints or Constraints()
    if not requested:
        raise ResolutionError(
            "no class requested", hint="name at least one class, e.g. `nnparts install cat`"
        )
    pools: dict[str, tuple[list[tuple[IndexEntry, str]], list[Rival]]] = {}
    for query in requested:
        if not any(e.matches(query) for s in sources for e in s.entries):
            raise UnknownClass(query, nearest_classes(query, [e for s in sources for e in s.entries]))
        kept, rivals = _candidates(query, sources, c)
        if not kept:
            raise ResolutionError(
                f"no module for class {query!r} meets the constraints",
                causes=[f"{r.entry.ref}: {r.reason}" for r in rivals],
                hint="relax --min-accuracy/--max-density or publish a better module",
            )
        pools[query] = (kept, rivals)
    covered: dict[str, str] = {}  # query -> origin chosen by the set cover
    remaining = set(requested)
    while remaining:
        covers: dict[str, dict[str, IndexEntry]] = {}  # origin -> class -> its smallest candidate
        for q in remaining:
            for e, _ in pools[q][0]:
                best = covers.setdefault(e.origin, {}).get(q)
                if best is None or e.bytes < best.bytes:
                    covers[e.origin][q] = e
        origin = min(
            sorted(covers),
            key=lambda o: (
                -len(covers[o]),
                sum(e.bytes for e in covers[o].values()),
                -sum(e.accuracy for e in covers[o].values()) / len(covers[o]),
            ),
        )
        for q in list(remaining):
            if any(e.origin == origin for e, _ in pools[q][0]):
                covered[q] = origin
                remaining.discard(q)
    picks = []
    for q in requested:
        kept, rivals = pools[q]
        same = [(e, r) for e, r in kept if e.origin == covered[q]]
        extra = [
            Rival(e, r, f"origin {e.origin}: more origins than {covered[q]}")
            for e, r in kept
            if e.origin != covered[q]
        ]
        same.sort(key=lambda er: (er[0].bytes, -er[0].accuracy, er[0].id, er[0].version))
        (entry, registry), losers = same[0], same[1:]
        extra += [Rival(e, r, f"larger ({e.bytes} bytes) or later in order than the pick") for e, r in losers]
        picks.append(Pick(q, entry.matched_class(q) or q, entry, registry, tuple(rivals + extra)))
    return Plan(tuple(picks), c)


def explain(plan: Plan) -> list[str]:
    """Human-readable lines: each pick and why each rival lost."""
    lines = []
    for p in plan.picks:
        e = p.entry
        lines.append(
            f"{p.requested}: {e.ref} from {p.registry} (origin {e.origin}, accuracy {e.accuracy:.4f}, "
            f"density {e.density:.3f}, {e.bytes} bytes)"
        )
        for r in p.rivals:
            lines.append(f"  - {r.entry.ref} [{r.registry}]: {r.reason}")
    return lines
