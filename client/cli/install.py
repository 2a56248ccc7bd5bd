"""``nnparts install CLASS...``: resolve class names across registries, fetch, write a lockfile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nnparts.client.cli._options import json_option, make_client, registries_option, trust_option

if TYPE_CHECKING:
    from nnparts.client.resolve import InstallResult


@click.command(name="install")
@click.argument("classes", nargs=-1)
@registries_option
@click.option(
    "--min-accuracy", type=float, default=0.0, show_default=True, help="Lowest accepted module accuracy."
)
@click.option(
    "--max-density",
    type=float,
    default=1.0,
    show_default=True,
    help="Highest accepted density (fraction kept).",
)
@click.option("--prefer", metavar="ORIGIN", default=None, help="Prefer modules cut from this origin model.")
@click.option("--input", "input_spec", metavar="CxHxW", default=None, help="Require this input shape.")
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("nnparts.lock"),
    show_default=True,
    help="Lockfile to write (or, with --frozen, to read).",
)
@click.option(
    "--frozen", is_flag=True, help="Install exactly what --lock pins; offline when already installed."
)
@click.option("--explain", is_flag=True, help="Print why each module was chosen over its rivals.")
@trust_option
@json_option
def install_command(
    classes: tuple[str, ...],
    registries: tuple[str, ...],
    min_accuracy: float,
    max_density: float,
    prefer: str | None,
    input_spec: str | None,
    lock: Path,
    frozen: bool,
    explain: bool,
    trust: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Install modules for each CLASS (name or alias) from the registries, highest priority first.

    Policy: compatible input spec and constraints; first registry that has the class; --prefer;
    accuracy within 0.5 pp of the best; fewest distinct origins; smallest download.
    """
    client = make_client(registries=registries)
    if frozen:
        result = client.install(classes, lock=lock, frozen=True, trust=trust)
    else:
        result = client.install(
            classes,
            lock=lock,
            trust=trust,
            min_accuracy=min_accuracy,
            max_density=max_density,
            prefer=prefer,
            input=input_spec,
        )
    report_install(result, explain=explain, as_json=as_json)


def report_install(result: InstallResult, *, explain: bool = False, as_json: bool = False) -> None:
    """Print what an install did: a table of picks and the lock written (a frozen install: counts),
    or one JSON document with ``as_json``; ``explain`` adds why each module won."""
    lock = result.lock_path
    if result.frozen:
        if as_json:
            doc = {"lock": str(lock), "installed": len(result.paths), "fetched": result.fetched}
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(
            f"{len(result.paths)} modules installed from {lock} ({result.fetched} fetched, the rest verified in the cache)"
        )
        return
    assert result.plan is not None
    if as_json:
        picks = [
            {
                "class": p.requested,
                "module": p.entry.ref,
                "origin": p.entry.origin,
                "accuracy": p.entry.accuracy,
                "bytes": p.entry.bytes,
            }
            for p in result.plan.picks
        ]
        out: dict[str, Any] = {
            "lock": str(lock),
            "fetched": result.fetched,
            "signatures_verified": result.signed,
            "picks": picks,
        }
        if explain:
            out["explain"] = result.explain()
        click.echo(json.dumps(out, indent=2))
        return
    if explain:
        for line in result.explain():
            click.echo(line)
        click.echo("")
    click.echo(f"{'class':<16} {'module':<40} {'origin':<24} {'accuracy':>8} {'bytes':>9}")
    for p in result.plan.picks:
        click.echo(
            f"{p.requested:<16} {p.entry.ref:<40} {p.entry.origin:<24} {p.entry.accuracy:8.2%} {p.entry.bytes:9d}"
        )
    verified = f", {result.signed} signatures verified" if result.signed else ""
    click.echo(f"wrote {lock} ({len(result.lock.modules)} modules, {result.fetched} fetched{verified})")
