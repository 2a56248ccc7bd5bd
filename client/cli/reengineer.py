"""``nnparts reengineer``: a SeaM sub-model of an origin model for target classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nnparts.client.cli._options import (
    batch_size_option,
    data_option,
    device_option,
    make_client,
    quiet_option,
)


@click.command("reengineer")
@click.argument("model", type=click.Path(path_type=Path))
@data_option()
@click.option("--target", "target", required=True, metavar="CLASS[,CLASS...]", help="One class: binary.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Package folder to write.")
@click.option("--granularity", default="weight", show_default=True, help="weight (SeaM), kernel or channel.")
@click.option(
    "--target-retention",
    type=float,
    default=None,
    help="Prune to exactly this retention (0-1): the mask threshold is steered to it every step.",
)
@click.option("--alpha", type=float, default=1.0, show_default=True, help="Weight of the retention loss.")
@click.option(
    "--lr-mask",
    type=float,
    default=0.05,
    show_default=True,
    help="Adam learning rate of scores.",
)
@click.option("--epochs", type=int, default=20, show_default=True, help="Search epochs.")
@click.option("--fine-tune", is_flag=True, help="Fine-tune the kept weights with masks enforced.")
@click.option(
    "--augment",
    default="none",
    show_default=True,
    help="Training-batch augmentation in search and fine-tuning: none, crop (4-pixel reflect pad) or "
    "crop+flip (what the CIFAR fixtures were trained with; use it for natural images).",
)
@click.option("--cost", default="params", show_default=True, help="Retention measure: params or flops.")
@click.option(
    "--allocation",
    default=None,
    help="How weight/kernel retention is split over layers: erk (Erdos-Renyi-kernel) or global "
    "(one threshold over all scores, as in SeaM); default: the one bench/reengineer.py chose (README).",
)
@click.option("--max-train", type=int, default=None, help="Cap on training images of the target problem.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@batch_size_option(256)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest's metrics as JSON.")
def reengineer_command(
    model: Path,
    data: Any,
    target: str,
    out: Path,
    granularity: str,
    target_retention: float | None,
    alpha: float,
    lr_mask: float,
    epochs: int,
    fine_tune: bool,
    augment: str,
    cost: str,
    allocation: str | None,
    max_train: int | None,
    seed: int,
    device: str,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Re-engineer MODEL into a sub-model for --target classes and write it to --out."""
    written = make_client(device=device, batch_size=batch_size, quiet=quiet).reengineer(
        model,
        data,
        target,
        out=out,
        seed=seed,
        augment=augment,
        allocation=allocation,
        granularity=granularity,
        target_retention=target_retention,
        alpha=alpha,
        lr_mask=lr_mask,
        epochs=epochs,
        fine_tune=fine_tune,
        cost=cost,
        max_train=max_train,
    )
    m = written.manifest
    if as_json:
        click.echo(json.dumps({"path": str(written.path), "mask": m.mask.to_dict(), "metrics": m.metrics}))
        return
    origin = m.metrics["origin"]
    click.echo(
        f"wrote {written.path}: retention {m.mask.density:.2%}, test accuracy "
        f"{m.metrics['overall']['accuracy']:.2%} (origin {origin['accuracy_paper']:.2%} paper, "
        f"{origin['accuracy_restricted']:.2%} restricted), {m.total_bytes} bytes"
    )
