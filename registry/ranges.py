"""The ``Range`` request header, as RFC 9110 section 14 reads it.

:func:`parse_range` never raises. It answers ``None`` when the header must be ignored (a 200 with the
whole file): an unknown range unit, a syntax error, a range whose last position precedes its first,
or more than :data:`MAX_RANGES` ranges (the RFC lets a server ignore any ``Range``). Otherwise it
answers the satisfiable ranges, clipped to the file and with overlapping or adjacent ones
coalesced; an empty tuple means none is satisfiable (416). Positions of any length are accepted:
one too long for 64 bits is simply beyond the end of every file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

MAX_RANGES = 16
_DIGITS = 18  # at most 18 decimal digits: always below 2**63
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_FAR = 1 << 63


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _DIGITS else _FAR


def _magnitude(digits: str) -> tuple[int, str]:
    """A sort key equal to the numeric order of decimal strings of any length."""
    stripped = digits.lstrip("0")
    return len(stripped), stripped


def parse_range(header: str, size: int) -> tuple[ByteRange, ...] | None:
    """The ranges of ``header`` for a representation of ``size`` bytes (see the module docstring)."""
    unit, sep, spec_list = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec_list.split(",")]
    specs = [s for s in specs if s]  # the RFC's list syntax allows empty elements
    if not specs or len(specs) > MAX_RANGES:
        return None
    wanted: list[ByteRange] = []
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None or not (match[1] or match[2]):
            return None
        if not match[1]:  # suffix range: the last n bytes
            suffix = _number(match[2])
            if suffix > 0 and size > 0:
                wanted.append(ByteRange(max(0, size - suffix), size - 1))
            continue
        if match[2] and _magnitude(match[2]) < _magnitude(match[1]):
            return None  # last < first: an invalid range-spec makes the whole header invalid
        first = _number(match[1])
        last = _number(match[2]) if match[2] else _FAR
        if first < size:
            wanted.append(ByteRange(first, min(last, size - 1)))
    return _coalesce(wanted)


def _coalesce(ranges: list[ByteRange]) -> tuple[ByteRange, ...]:
    """Ranges in request order, unless some overlap or touch: then merged and sorted."""
    ordered = sorted(ranges, key=lambda r: r.start)
    if all(a.end + 1 < b.start for a, b in pairwise(ordered)):
        return tuple(ranges)
    merged: list[ByteRange] = []
    for r in ordered:
        if merged and r.start <= merged[-1].end + 1:
            merged[-1] = ByteRange(merged[-1].start, max(merged[-1].end, r.end))
        else:
            merged.append(r)
    return tuple(merged)
