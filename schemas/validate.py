"""Schema validation: every JSON document nnparts reads is checked here, once, at the edge.

Schemas are package data read through :mod:`importlib.resources`; they reference each other by
``$id``. Failures raise :class:`ManifestError` with the JSON pointer of the first failing field.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Literal

import jsonschema
from referencing import Registry, Resource

from nnparts.schemas.errors import ManifestError

Kind = Literal["manifest", "model", "graph", "index_entry", "lockfile"]
KINDS: tuple[Kind, ...] = ("manifest", "model", "graph", "index_entry", "lockfile")


@functools.cache
def load_schema(kind: Kind) -> dict[str, Any]:
    """Return the JSON schema of ``kind`` (cached)."""
    text = resources.files("nnparts.schemas").joinpath(f"{kind}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(kind: Kind) -> jsonschema.protocols.Validator:
    registry: Registry = Registry()
    for other in KINDS:
        doc = load_schema(other)
        registry = registry.with_resource(doc["$id"], Resource.from_contents(doc))
    cls = jsonschema.Draft202012Validator
    return cls(load_schema(kind), registry=registry, format_checker=cls.FORMAT_CHECKER)


def validate(doc: Any, kind: Kind, *, source: str = "") -> None:
    """Check ``doc`` against the schema of ``kind``.

    Raises:
        ManifestError: the first (deepest, then leftmost) violation with its JSON pointer.
    """
    errors = sorted(_validator(kind).iter_errors(doc), key=lambda e: (-len(e.path), list(map(str, e.path))))
    if not errors:
        return
    err = errors[0]
    pointer = "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in err.absolute_path)
    message = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    raise ManifestError(
        message,
        pointer=pointer,
        source=source,
        hint=f"fix the field and validate against {kind}.schema.json",
    )
