"""``nnparts compose PACKAGE... --out DIR``: assemble module package folders directly (no registry)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="compose")
@click.argument("packages", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path))
@click.option(
    "--calibrate",
    "calibrate",
    multiple=True,
    metavar="SPEC",
    help="Fit a few-shot stitching head on this data's val split.",
)
@click.option("--abstain", type=float, default=None)
@click.option("--rule", type=click.Choice(["argmax", "vote"]), default="argmax", show_default=True)
@click.option("--name", default="composed", show_default=True)
@click.option(
    "--onnx",
    "onnx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also export the model to ONNX here (checked against onnxruntime when installed).",
)
@click.option("--overwrite", is_flag=True)
def compose_command(
    packages: tuple[Path, ...],
    out: Path,
    calibrate: tuple[str, ...],
    abstain: float | None,
    rule: str,
    name: str,
    overwrite: bool,
    onnx: Path | None,
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
    click.echo(f"composed {len(packages)} modules into {path}")
    if onnx is not None:
        from nnparts.client.assemble import load_assembly
        from nnparts.client.assemble.onnx import export_onnx

        diff = export_onnx(load_assembly(path), onnx)
        checked = (
            f"max |onnxruntime - torch| = {diff:.1e}" if diff is not None else "onnxruntime not installed"
        )
        click.echo(f"exported {onnx} ({checked})")
