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
    quiet_option,
)
from nnparts.schemas.errors import UsageError

if TYPE_CHECKING:
    from nnparts.client.data import DataSpec
    from nnparts.schemas.manifest import ModuleManifest


def _fraction(name: str, value: float | None, *, upper_open: bool = False) -> float | None:
    if value is None:
        return None
    if not (0.0 < value < 1.0 if upper_open else 0.0 < value <= 1.0):
        raise UsageError(
            f"{name} must be a fraction in (0, 1{')' if upper_open else ']'}, got {value}",
            hint=f"e.g. {name} 0.3",
        )
    return value


def channel_params(
    trunk: str, trunk_goal: float | None, flops_goal: float | None, epochs: float | None, augment: str | None
) -> dict[str, object]:
    """The trunk + tails settings the options ask for (only those given; the rest are defaults)."""
    params: dict[str, object] = {}
    if trunk == "none":
        params.update(trunk_fraction=None, tail_goal=0.35)
    elif trunk != "auto":
        try:
            params["trunk_fraction"] = _fraction("--trunk", float(trunk), upper_open=True)
        except ValueError:
            raise UsageError(f"--trunk must be auto, none or a fraction in (0, 1), got {trunk!r}") from None
    given = {
        "trunk_goal": _fraction("--trunk-goal", trunk_goal),
        "tail_goal": _fraction("--flops-goal", flops_goal),
        "augment": augment,
    }
    if epochs is not None:
        if not 0.0 < epochs <= 1000.0 or epochs != epochs:
            raise UsageError(
                f"--epochs must be a positive number of epochs, got {epochs}", hint="e.g. --epochs 3"
            )
        given.update(tail_epochs=epochs, trunk_epochs=epochs / 3)
    params.update({k: v for k, v in given.items() if v is not None})
    return params


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
    type=click.Choice(["channel", "activation"]),
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
    help="FLOPs of the pruned trunk, as a fraction of the origin's (channel; default 0.3).",
)
@click.option(
    "--flops-goal",
    type=float,
    default=None,
    help="FLOPs of each class's tail, as a fraction of the origin's (channel; default 0.045 with a "
    "trunk, 0.35 without).",
)
@click.option(
    "--epochs",
    type=float,
    default=None,
    help="Fine-tuning epochs of the tails (channel; default 3); the trunk gets a third of them.",
)
@click.option(
    "--augment",
    type=click.Choice(["none", "crop", "flip", "crop+flip"]),
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
    from nnparts.client.api import Client

    names = [c.strip() for item in classes for c in item.split(",") if c.strip()]
    params = channel_params(trunk, trunk_goal, flops_goal, epochs, augment) if method == "channel" else {}
    client = Client(device=device, batch_size=batch_size, progress=not quiet)
    written = client.decompose(
        model,
        data,
        classes=names or None,
        out=out,
        method="trunk" if method == "channel" else method,
        version=version,
        seed=seed,
        overwrite=overwrite,
        **params,
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
