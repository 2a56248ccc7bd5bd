"""``nnparts assemble --lock FILE --out DIR``: one runnable model from the installed modules."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import assembly_options, make_client, report_assembly


@click.command(name="assemble")
@click.option(
    "--lock",
    "lock",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lockfile from `nnparts install`.",
)
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Folder for the assembled package."
)
@assembly_options
def assemble_command(
    lock: Path,
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
    """Assemble every module pinned by --lock (installed, verified, offline) into one package."""
    client = make_client(device="cpu", quiet=quiet)
    model = client.assemble(
        lock, out=out, calibrate=calibrate, abstain=abstain, rule=rule, name=name, overwrite=overwrite
    )
    report_assembly(client, model, out, onnx, as_json=as_json)
