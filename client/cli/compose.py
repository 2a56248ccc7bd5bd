"""``nnparts compose PACKAGE... --out DIR``: assemble module package folders directly (no registry)."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import assembly_options, make_client, report_assembly


@click.command(name="compose")
@click.argument("packages", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Folder for the composed package."
)
@assembly_options
def compose_command(
    packages: tuple[Path, ...],
    out: Path,
    calibrate: tuple[str, ...],
    abstain: float | None,
    rule: str,
    name: str,
    onnx: Path | None,
    overwrite: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Compose class modules (package folders) into an N-way classifier package."""
    client = make_client(device="cpu", quiet=quiet)
    model = client.compose(
        packages, out=out, calibrate=calibrate, abstain=abstain, rule=rule, name=name, overwrite=overwrite
    )
    report_assembly(client, model, out, onnx, as_json=as_json)
