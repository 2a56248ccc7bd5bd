"""A small, safe reader of the YAML front matter of a ``README.md`` model card.

Only what listing and search need: top-level ``key: scalar`` pairs, block lists (``- item``) and
flow lists (``[a, b]``). Nested mappings are skipped. No code is ever executed, no PyYAML needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

Scalar = str | int | float | bool | None
Value = Scalar | list[Scalar]


@dataclass(frozen=True)
class CardMeta:
    """``card_data``: the parsed top-level keys; ``tags``: the search tags derived from them."""

    card_data: dict[str, Value] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def parse_card(text: str) -> CardMeta:
    """Parse the front matter of a model card; a card without one gives an empty ``CardMeta``."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return CardMeta()
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        return CardMeta()
    data = _parse_block(lines[1:end])
    return CardMeta(card_data=data, tags=_derive_tags(data))


def _parse_block(lines: list[str]) -> dict[str, Value]:
    data: dict[str, Value] = {}
    key: str | None = None
    for raw in lines:
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        if line[0] in " \t-":
            stripped = line.strip()
            current = data.get(key) if key is not None else None
            item = stripped[2:].strip()
            if key is not None and stripped.startswith("- ") and _is_mapping_item(item):
                data.pop(key, None)  # a list of mappings (model-index ...): not supported, skip
                key = None
            elif key is not None and stripped.startswith("- ") and isinstance(current, list):
                current.append(_scalar(item))
            elif key is not None and stripped == "-" and isinstance(current, list):
                current.append(None)
            else:
                key = None  # nested mapping or unsupported shape: skip the key
            continue
        name, sep, rest = line.partition(":")
        if not sep or not name.strip():
            key = None
            continue
        key = name.strip().strip("\"'")
        rest = rest.strip()
        if not rest:
            data[key] = []  # a block list (or a nested mapping, removed below if it stays empty)
        elif rest.startswith("[") and rest.endswith("]"):
            inner = rest[1:-1].strip()
            data[key] = [_scalar(part.strip()) for part in inner.split(",")] if inner else []
        else:
            data[key] = _scalar(rest)
    return {k: v for k, v in data.items() if v != [] or _declared_empty(lines, k)}


def _is_mapping_item(item: str) -> bool:
    return item[:1] not in ("'", '"') and re.match(r"[\w.-]+:(\s|$)", item) is not None


def _declared_empty(lines: list[str], key: str) -> bool:
    return any(_strip_comment(line).strip().replace(" ", "") == f"{key}:[]" for line in lines)


def _strip_comment(line: str) -> str:
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _scalar(text: str) -> Scalar:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        if text[0] == '"':
            try:
                value = json.loads(text)
            except ValueError:
                return text[1:-1]
            return value if isinstance(value, str) else text[1:-1]
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("null", "~", ""):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _derive_tags(data: dict[str, Value]) -> tuple[str, ...]:
    tags: list[str] = []
    raw = data.get("tags")
    for item in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if item is not None and str(item) not in tags:
            tags.append(str(item))
    library = data.get("library_name")
    if isinstance(library, str) and library not in tags:
        tags.append(library)
    return tuple(tags)
