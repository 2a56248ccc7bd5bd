"""``nnparts publish | search | show | list | yank``: the registry verbs, thin over ``Client``.

Every command takes ``--registry PATH_OR_URL`` (default ``$NNPARTS_HOME``, else ``~/.cache/nnparts``).
Errors are :mod:`nnparts.schemas.errors` exceptions, which the root group prints as one line (exit 2).
No torch is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nnparts.client.cli._options import json_option, make_client, registry_option, sign_key_option
from nnparts.client.cli.sign import echo_signed
from nnparts.schemas.index_entry import IndexEntry

if TYPE_CHECKING:
    from nnparts.client.api import Client


def _client(registry: str | None) -> Client:
    return make_client(registries=[registry] if registry else ())


@click.command("publish")
@click.argument("package", metavar="DIR", type=click.Path(path_type=Path))
@registry_option
@sign_key_option("--sign-key", "Sign the package first, in place", required=False)
def publish_command(package: Path, registry: str | None, key: Path | None) -> None:
    """Verify the module package in DIR and publish it (and its package.sig, if signed) to the registry."""
    done = _client(registry).publish(package, sign_key=key)
    for signed in done.signed:
        echo_signed(signed)
    for entry in done.entries:
        click.echo(
            f"published {entry.ref} ({entry.kind}: {', '.join(entry.class_names)}; {_size(entry.bytes)}) "
            f"to {done.registry}"
        )


@click.command("search")
@click.argument("class_name", metavar="CLASS")
@click.option("--all", "include_yanked", is_flag=True, help="Include yanked versions.")
@json_option
@registry_option
def search_command(class_name: str, include_yanked: bool, as_json: bool, registry: str | None) -> None:
    """Find the modules that provide CLASS (a class name or alias, case-insensitive)."""
    found = _client(registry).search(class_name, include_yanked=include_yanked)
    if as_json:
        _echo_json([e.to_dict() for e in found])
        return
    if not found:
        click.echo(f"only yanked modules provide {class_name!r}; pass --all to list them", err=True)
        return
    headers = ("CLASS", "ID", "VERSION", *_SUMMARY_HEADERS)
    rows = [(e.matched_class(class_name) or "", e.id, _version(e), *_summary(e)) for e in found]
    click.echo(_table(headers, rows))


@click.command("show")
@click.argument("module_id", metavar="ID")
@click.option("--version", "version", default=None, metavar="V", help="A version [default: latest].")
@json_option
@registry_option
def show_command(module_id: str, version: str | None, as_json: bool, registry: str | None) -> None:
    """Show one module: its index entry and its (verified) manifest."""
    info = _client(registry).show(module_id, version)
    entry, manifest, signer = info.entry, info.manifest, info.signer
    if as_json:
        signature = {"signed": signer is not None, "key": signer}
        _echo_json({"entry": entry.to_dict(), "manifest": manifest.to_dict(), "signature": signature})
        return
    metrics = manifest.metrics
    classes = "; ".join(
        c.name + (f" (aliases: {', '.join(c.aliases)})" if c.aliases else "") for c in entry.classes
    )
    rows = [
        ("id", entry.id),
        ("version", _version(entry)),
        ("name", manifest.name),
        ("kind", entry.kind),
        ("classes", classes),
        ("origin", f"{entry.origin} ({manifest.origin.architecture}, {entry.dataset})"),
        ("method", f"{entry.method} ({entry.granularity} granularity, density {_pct(entry.density)})"),
        ("params", f"{manifest.mask.params_after:,} of {manifest.mask.params_before:,}"),
        (
            "accuracy",
            f"{_pct(entry.accuracy)} on {metrics.get('split', '?')} ({metrics.get('samples', '?')} samples)",
        ),
        ("input", "x".join(str(v) for v in entry.input)),
        ("size", f"{_size(entry.bytes)} in {len(manifest.files)} files"),
        ("license", manifest.license),
        ("published", entry.published),
        ("manifest", entry.manifest_sha256),
        ("signature", f"signed by key {signer} (install --trust verifies it)" if signer else "unsigned"),
        ("registry", info.registry),
    ]
    for need in manifest.requires:
        size = f", {_size(need.bytes)}" if need.bytes is not None else ""
        rows.append(("requires", f"{need.kind} {need.ref} (manifest {need.manifest_sha256[:12]}...{size})"))
    if entry.yanked:
        rows.append(("yank reason", entry.yank_reason or "-"))
    click.echo(_table(("FIELD", "VALUE"), rows, header=False))


@click.command("list")
@json_option
@registry_option
def list_command(as_json: bool, registry: str | None) -> None:
    """List every module version in the registry, yanked ones marked."""
    client = _client(registry)
    entries = client.list_modules(include_yanked=True)
    if as_json:
        _echo_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo(f"no modules in {client.registries[0].name}", err=True)
        return
    headers = ("ID", "VERSION", "CLASSES", *_SUMMARY_HEADERS)
    rows = [(e.id, _version(e), ",".join(e.class_names), *_summary(e)) for e in entries]
    click.echo(_table(headers, rows))


@click.command("yank")
@click.argument("module_id", metavar="ID")
@click.option("--version", "version", default=None, metavar="V", help="A version [default: latest].")
@click.option("--reason", default="", metavar="TEXT", help="Why it is yanked (shown to users).")
@registry_option
def yank_command(module_id: str, version: str | None, reason: str, registry: str | None) -> None:
    """Mark a module version as yanked: hidden from search, still installable by exact version."""
    client = _client(registry)
    entry = client.yank(module_id, version, reason=reason)
    click.echo(
        f"yanked {entry.ref} in {client.registries[0].name}"
        + (f": {entry.yank_reason}" if entry.yank_reason else "")
    )


_SUMMARY_HEADERS = ("ORIGIN", "METHOD", "DENSITY", "ACCURACY", "SIZE", "PUBLISHED")
_RIGHT = {"DENSITY", "ACCURACY", "SIZE"}


def _version(e: IndexEntry) -> str:
    return e.version + (" (yanked)" if e.yanked else "")


def _summary(e: IndexEntry) -> tuple[str, ...]:
    """The cells under ``_SUMMARY_HEADERS``."""
    published = e.published.replace("T", " ")[:16]
    return (e.origin, e.method, _pct(e.density), _pct(e.accuracy), _size(e.bytes), published)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, header: bool = True) -> str:
    """Columns aligned with two spaces; numeric columns right-aligned; no trailing spaces."""
    cells = [list(headers), *map(list, rows)] if header else [list(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [
            c.rjust(w) if h in _RIGHT else c.ljust(w) for c, w, h in zip(r, widths, headers, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
