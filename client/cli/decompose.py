"""``nnparts decompose MODEL --data SPEC --out DIR``: one module package per class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nnparts.client.cli._options import (
    batch_size_option,
    data_option,
    device_option,
    json_option,
    make_client,
    quiet_option,
)
from nnparts.client.extract.decompose_settings import AUGMENTS, METHODS

if TYPE_CHECKING:
    from nnparts.client.data import DataSpec
    from nnparts.schemas.manifest import ModuleManifest


@click.command(name="decompose")
@click.argument("model", type=click.Path(path_type=Path))
@data_option()
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Folder for the module packages."
)
@click.option(
    "--classes",
    "classes",
    multiple=True,
    metavar="NAME",
    help="Classes to cut (repeat or comma-separate; default all).",
)
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    default="channel",
    show_default=True,
    help="channel: physically smaller structured modules; activation: Pan & Rajan (keeps every weight).",
)
@click.option(
    "--trunk",
    "trunk",
    default="auto",
    show_default=True,
    metavar="auto|none|F",
    help="channel: cut a shared trunk at the last cut point holding at most F of the FLOPs "
    "(auto: 0.7); none: standalone modules.",
)
@click.option(
    "--trunk-goal",
    type=float,
    default=None,
    help="FLOPs of the pruned trunk, as a fraction of the origin's (channel; default 0.35).",
)
@click.option(
    "--flops-goal",
    type=float,
    default=None,
    help="FLOPs of each class's tail, as a fraction of the origin's (channel; default 0.05 with a "
    "trunk, 0.35 without).",
)
@click.option(
    "--epochs",
    type=float,
    default=None,
    help="Fine-tuning epochs of the tails (channel; default 2); the trunk gets a third of them.",
)
@click.option(
    "--augment",
    type=click.Choice(AUGMENTS),
    default=None,
    help="Training-batch augmentation of the fine-tuning (channel; default crop+flip).",
)
@click.option(
    "--version", "version", default="1.0.0", show_default=True, help="Version written into each manifest."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing module folders under --out.")
@device_option
@batch_size_option(256)
@quiet_option
@json_option
def decompose_command(
    model: Path,
    data: DataSpec,
    out: Path,
    classes: tuple[str, ...],
    method: str,
    trunk: str,
    trunk_goal: float | None,
    flops_goal: float | None,
    epochs: float | None,
    augment: str | None,
    version: str,
    seed: int,
    overwrite: bool,
    device: str,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Decompose the origin model package MODEL into one module per class (selection on val only)."""
    written = make_client(device=device, batch_size=batch_size, quiet=quiet).decompose(
        model,
        data,
        classes=classes,
        out=out,
        method=method,
        trunk=trunk,
        trunk_goal=trunk_goal,
        flops_goal=flops_goal,
        epochs=epochs,
        augment=augment,
        version=version,
        seed=seed,
        overwrite=overwrite,
    )
    rows = [_row(p.manifest, p.path) for p in written]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        f"{'class':<16} {'binary acc':>10} {'recall':>8} {'FLOPs':>7} {'params':>8} {'bytes':>9}  package"
    )
    for r in rows:
        acc, recall = ("", "") if r["kind"] == "trunk" else (f"{r['accuracy']:.2%}", f"{r['recall']:.2%}")
        click.echo(
            f"{r['class'] or '(trunk)':<16} {acc:>10} {recall:>8} {r['flops']:7.1%} {r['params']:8d} "
            f"{r['bytes']:9d}  {r['path']}"
        )


def _row(m: ModuleManifest, path: Path) -> dict[str, Any]:
    """One written package: its class (None for the trunk), one-vs-rest test metrics, FLOPs share
    of the origin, parameters, bytes and folder."""
    trunk = m.kind == "trunk"
    return {
        "class": None if trunk else m.classes[0].name,
        "kind": m.kind,
        "module": f"{m.id}@{m.version}",
        "accuracy": None if trunk else m.metrics["overall"]["accuracy"],
        "recall": None if trunk else m.metrics["overall"]["recall"],
        "flops": (m.mask.flops_after or 0) / max(m.mask.flops_before or 1, 1),
        "params": m.mask.params_after,
        "bytes": m.total_bytes,
        "path": str(path),
    }
