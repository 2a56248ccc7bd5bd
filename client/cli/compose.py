"""``nnparts compose PACKAGE... --out DIR``: assemble module package folders directly (no registry)."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import assembly_options, report_assembly


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
    from nnparts.client.assemble import assemble_paths
    from nnparts.client.data import check_spec
    from nnparts.schemas.errors import FileMissing

    for p in packages:
        if not p.is_dir():
            raise FileMissing(str(p), hint="PACKAGE is a module package folder")
    specs = [str(check_spec(c)) for c in calibrate]
    path = assemble_paths(
        list(packages), out, calibrate=specs, abstain=abstain, rule=rule, name=name, overwrite=overwrite
    )
    report_assembly(path, onnx, as_json=as_json)
