"""What ``POST /api/validate-yaml`` reports about a model card's front matter.

Not a YAML parser: a line-level check of the shapes the Hub refuses outright, with the line number.
Errors: an unclosed ``---`` block, a tab in the indentation, a top-level line that is neither
``key: value``, a comment nor a list item under a key, a duplicate top-level key, an unclosed
``[`` flow list or quote, and ``tags``/``license`` of the wrong type. Nested blocks (``model-index``
...) are not looked into. Cost: one pass over the front matter.
"""

from __future__ import annotations

import re

from nnparts.registry.cardmeta import parse_card

_KEY = re.compile(r"""(?:"[^"]*"|'[^']*'|[^\s#'"][^:#]*?)\s*:(?:\s|$)""")


def card_errors(text: str) -> list[str]:
    """The problems of the front matter of ``text`` (``[]`` if fine or if there is none)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return []
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return ["the metadata block opened by '---' on line 1 is never closed by another '---'"]
    problems: list[str] = []
    seen: set[str] = set()
    key: str | None = None
    for number, raw in enumerate(lines[1:end], start=2):
        line = _uncomment(raw).rstrip()
        if not line.strip():
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if "\t" in indent:
            problems.append(f"line {number}: tabs are not allowed in YAML indentation")
            continue
        if indent or line.startswith("-"):
            if key is None:
                problems.append(
                    f"line {number}: the metadata must be a mapping of keys, got {line.strip()[:60]!r}"
                )
            continue
        match = _KEY.match(line)
        if match is None:
            problems.append(f"line {number}: expected 'key: value', got {line.strip()[:60]!r}")
            key = None
            continue
        key = match.group(0).rstrip().rstrip(":").strip().strip("\"'")
        if key in seen:
            problems.append(f"line {number}: duplicate key {key!r}")
        seen.add(key)
        value = line[match.end() :].strip()
        if value.startswith("[") and not value.endswith("]"):
            problems.append(f"line {number}: the flow list of {key!r} is not closed with ']'")
        elif value[:1] in ("'", '"') and (len(value) < 2 or value[-1] != value[0]):
            problems.append(f"line {number}: the quoted value of {key!r} is not closed")
    if not problems:
        problems += _types("\n".join(lines[: end + 1]))
    return problems


def _types(front: str) -> list[str]:
    data = parse_card(front).card_data
    out: list[str] = []
    tags = data.get("tags")
    if tags is not None and not isinstance(tags, str | list):
        out.append(f"'tags' must be a list of strings, got {tags!r}")
    license_ = data.get("license")
    if license_ is not None and not isinstance(license_, str | list):
        out.append(f"'license' must be a string, got {license_!r}")
    return out


def _uncomment(line: str) -> str:
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'" and (i == 0 or line[i - 1] in " \t:[,-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line
