"""``nnparts assemble --lock FILE --out DIR``: one runnable model from the installed modules."""

from __future__ import annotations

from pathlib import Path

import click


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
@click.option(
    "--calibrate",
    "calibrate",
    multiple=True,
    metavar="SPEC",
    help="Fit a few-shot stitching head on the val split of this data (repeatable); zero-shot without.",
)
@click.option("--abstain", type=float, default=None, help="Answer 'unknown' below this probability.")
@click.option(
    "--rule",
    type=click.Choice(["argmax", "vote"]),
    default="argmax",
    show_default=True,
    help="argmax of calibrated scores, or Pan & Rajan's vote.",
)
@click.option("--name", default="assembly", show_default=True)
@click.option(
    "--onnx",
    "onnx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also export the model to ONNX here (checked against onnxruntime when installed).",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def assemble_command(
    lock: Path,
    out: Path,
    calibrate: tuple[str, ...],
    abstain: float | None,
    rule: str,
    name: str,
    overwrite: bool,
    onnx: Path | None,
) -> None:
    """Assemble every module pinned by --lock (installed, verified, offline) into one package."""
    from nnparts.client.assemble import assemble_from_lock, load_assembly
    from nnparts.client.data import check_spec

    specs = [str(check_spec(c)) for c in calibrate]
    path = assemble_from_lock(
        lock, out, calibrate=specs, abstain=abstain, rule=rule, name=name, overwrite=overwrite
    )
    assembly = load_assembly(path)
    click.echo(
        f"assembled {len(assembly.parts)} modules answering {len(assembly.classes)} classes into {path}"
    )
    click.echo(f"classes: {', '.join(assembly.classes)}")
    if onnx is not None:
        from nnparts.client.assemble.onnx import export_onnx

        diff = export_onnx(assembly, onnx)
        checked = (
            f"max |onnxruntime - torch| = {diff:.1e}" if diff is not None else "onnxruntime not installed"
        )
        click.echo(f"exported {onnx} ({checked})")
