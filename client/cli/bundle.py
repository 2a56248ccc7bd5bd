"""``nnparts bundle export | import``: every locked package in one tar file, for sites with no network."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import make_client, trust_option


@click.group("bundle")
def bundle_group() -> None:
    """Carry locked packages (and their signatures) to a machine with no registry."""


@bundle_group.command("export")
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("nnparts.lock"),
    show_default=True,
    help="The lockfile whose packages to bundle (they must be installed here).",
)
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Tar file to write."
)
def export_command(lock: Path, out: Path) -> None:
    """Write every package LOCK pins, from the install cache, into the tar file OUT."""
    report = make_client().export_bundle(lock, out)
    click.echo(f"wrote {out}: {report.packages} packages ({report.signed} signed, {report.bytes} bytes)")


@bundle_group.command("import")
@click.argument("bundle", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@trust_option
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the bundled lockfile here.",
)
def import_command(bundle: Path, trust: tuple[Path, ...], lock: Path | None) -> None:
    """Put the packages of FILE into the local install cache (hash-checked; signatures with --trust).

    Then `nnparts install --frozen --lock LOCK` needs no registry.
    """
    report = make_client().import_bundle(bundle, trust=trust, lock=lock)
    verified = f", signatures verified against {len(trust)} trusted keys" if trust else ""
    click.echo(f"imported {report.packages} packages from {bundle} ({report.signed} signed{verified})")
    if lock is not None:
        click.echo(f"wrote {lock}")
