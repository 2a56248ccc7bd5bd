"""The module and origin pages: a manifest read back from storage and rendered in full."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.responses import Response

from nnparts.registry.catalog import ModuleRow
from nnparts.registry.storage import RepoKey
from nnparts.registry.web_render import per_class_chart, split_front_matter
from nnparts.registry.web_requires import Requirement, requirements
from nnparts.schemas.errors import NnpartsError
from nnparts.schemas.manifest import ModuleManifest
from nnparts.schemas.package import MANIFEST_NAME
from nnparts.schemas.signature import MAX_SIGNATURE_BYTES, SIGNATURE_NAME, claimed_fingerprint

if TYPE_CHECKING:
    from nnparts.registry.web import View

MAX_CARD_BYTES = 256 * 1024


@dataclass(frozen=True)
class Card:
    """A model card: YAML front matter (shown as text) and the Markdown body."""

    path: str
    front_matter: str
    body: str


async def by_id(view: View, match: re.Match[str]) -> Response:
    """``/modules/<id>``: the ``?version=`` asked for, else the newest version not yanked."""
    module_id = match["id"]
    versions: list[ModuleRow] = await view.run(view.catalog.versions, module_id, view.visible)
    wanted = view.request.query_params.get("version", "")[:100]
    if wanted:
        chosen = next((r for r in versions if r.version == wanted), None)
    else:
        chosen = next((r for r in versions if not r.yanked), versions[0] if versions else None)
    if chosen is None:
        what = f"No module {module_id!r}" + (f" with version {wanted!r}" if wanted else "") + "."
        return view.not_found(what, link="/search?" + urlencode({"q": module_id.rsplit("/", 1)[-1]}))
    return await _render_module(view, chosen, versions)


async def by_location(view: View, match: re.Match[str]) -> Response:
    """``/m/<ns>/<repo>/<folder>``: the module whose manifest is at that place."""
    repo, path = f"{match['ns']}/{match['name']}", (match["path"] or "").strip("/")
    row = await view.run(view.catalog.module, repo, path, view.visible)
    if row is None:
        return view.not_found(f"No module is stored at {repo}/{path}.")
    versions = await view.run(view.catalog.versions, row.id, view.visible)
    return await _render_module(view, row, versions)


async def _render_module(view: View, row: ModuleRow, versions: list[ModuleRow]) -> Response:
    loaded = await view.run(_load, view, row)
    if loaded is None:
        return view.not_found(f"The manifest of {row.id}@{row.version} is no longer stored here.")
    manifest, card, requires = loaded
    signer = await view.run(_signer, view, row)
    first_class = manifest.classes[0].name if manifest.classes else row.id
    return view.render(
        "module.html",
        row=row,
        m=manifest,
        card=card,
        versions=versions,
        chart=per_class_chart(manifest.metrics.get("per_class")),
        overall=_numbers(manifest.metrics.get("overall")),
        install_class=first_class,
        signer=signer,
        requires=requires,
        params=[(k, json.dumps(v, sort_keys=True)) for k, v in sorted(manifest.method_params.items())],
    )


def _load(view: View, row: ModuleRow) -> tuple[ModuleManifest, Card | None, tuple[Requirement, ...]] | None:
    """The manifest at the catalogued commit, the folder's (or the repo's) README, and what the
    module requires (read from the raw document, see :mod:`web_requires`)."""
    storage = view.hub.storage
    ns, name = row.repo.split("/", 1)
    key = RepoKey("model", ns, name)
    prefix = f"{row.path}/" if row.path else ""
    try:
        commit = storage.resolve(key, row.commit)
        entry = storage.get_file(key, commit, prefix + MANIFEST_NAME)
        doc = json.loads(storage.blob_path(entry.sha256).read_bytes())
        manifest = ModuleManifest.from_dict(doc, source=f"{row.repo}/{prefix}{MANIFEST_NAME}")
        requires = requirements(doc)
    except (NnpartsError, OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    for candidate in dict.fromkeys([prefix + "README.md", "README.md"]):
        try:
            readme = storage.get_file(key, commit, candidate)
        except NnpartsError:
            continue
        if readme.size > MAX_CARD_BYTES:
            return manifest, Card(candidate, "", f"(model card of {readme.size} bytes not shown)"), requires
        text = storage.blob_path(readme.sha256).read_bytes().decode("utf-8", "replace")
        front, body = split_front_matter(text)
        return manifest, Card(candidate, front, body), requires
    return manifest, None, requires


def _signer(view: View, row: ModuleRow) -> str | None:
    """The key fingerprint the folder's ``package.sig`` claims (not verified here), or None."""
    storage, key = view.hub.storage, RepoKey("model", *row.repo.split("/", 1))
    try:
        path = f"{row.path}/{SIGNATURE_NAME}" if row.path else SIGNATURE_NAME
        sig = storage.get_file(key, storage.resolve(key, row.commit), path)
        raw = storage.blob_path(sig.sha256).read_bytes() if sig.size <= MAX_SIGNATURE_BYTES else None
    except (NnpartsError, OSError, ValueError, KeyError, TypeError):
        return None
    return claimed_fingerprint(raw)


def _numbers(value: Any) -> list[tuple[str, float]]:
    if not isinstance(value, dict):
        return []
    return [
        (str(k), float(v)) for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]


@dataclass(frozen=True)
class Cell:
    """The best module (highest accuracy, not yanked) for one class and one method."""

    row: ModuleRow
    count: int


async def origin(view: View, match: re.Match[str]) -> Response:
    """``/origins/<name>``: every module cut from one origin model; class × method table."""
    name = match["name"]
    rows: list[ModuleRow] = await view.run(view.catalog.by_origin, name, view.visible)
    if not rows:
        known = await view.run(view.catalog.distinct, "origin", view.visible)
        return view.not_found(
            f"No modules were cut from an origin model named {name!r}.",
            suggestions=[
                (o, f"/origins/{quote(o)}") for o in difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            ],
        )
    classes = sorted({c for r in rows for c in r.classes}, key=str.casefold)
    methods = sorted({r.method for r in rows})
    table: dict[tuple[str, str], Cell] = {}
    for r in rows:
        if r.yanked:
            continue
        for c in r.classes:
            old = table.get((c, r.method))
            best = r if old is None or (r.accuracy or 0.0) > (old.row.accuracy or 0.0) else old.row
            table[(c, r.method)] = Cell(best, 1 if old is None else old.count + 1)
    return view.render(
        "origin.html",
        name=name,
        rows=rows,
        classes=classes,
        methods=methods,
        table=table,
        datasets=sorted({r.dataset for r in rows}),
    )
