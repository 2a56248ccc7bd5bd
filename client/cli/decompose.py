"""``nnparts decompose MODEL --data SPEC --out DIR``: one module package per class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nnparts.client.cli._options import batch_size_option, data_option, device_option, quiet_option
from nnparts.schemas.errors import UsageError

if TYPE_CHECKING:
    from nnparts.client.data import DataSpec


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
@click.option("--steps", type=int, default=None, help="Mask-search steps per class (channel; default 300).")
@click.option(
    "--lam", type=float, default=None, help="FLOPs penalty weight of the mask search (channel; default 2.0)."
)
@click.option(
    "--flops-goal",
    type=float,
    default=None,
    help="Steer each module's FLOPs down to this fraction of the origin (channel; default: penalty only).",
)
@click.option(
    "--version", "version", default="1.0.0", show_default=True, help="Version written into each manifest."
)
@click.option(
    "--shared-trunk",
    "trunk",
    type=float,
    default=None,
    help="Keep the leading layers holding this fraction of FLOPs whole, shared by all modules (channel).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing module folders under --out.")
@device_option
@batch_size_option(256)
@quiet_option
def decompose_command(
    model: Path,
    data: DataSpec,
    out: Path,
    classes: tuple[str, ...],
    method: str,
    steps: int | None,
    lam: float | None,
    flops_goal: float | None,
    trunk: float | None,
    version: str,
    seed: int,
    overwrite: bool,
    device: str,
    batch_size: int,
    quiet: bool,
) -> None:
    """Decompose the origin model package MODEL into one module per class (selection on val only)."""
    from nnparts.client.cli._options import resolve_device
    from nnparts.client.data import check_spec
    from nnparts.client.extract.base import ExtractSettings
    from nnparts.client.extract.pipeline import decompose

    spec = check_spec(data)
    names = [c.strip() for item in classes for c in item.split(",") if c.strip()]
    if trunk is not None and not 0.0 <= trunk < 1.0:
        raise UsageError(f"--shared-trunk must be a fraction in [0, 1), got {trunk}")
    if flops_goal is not None and not 0.0 < flops_goal <= 1.0:
        raise UsageError(
            f"--flops-goal must be a fraction in (0, 1], got {flops_goal}", hint="e.g. --flops-goal 0.5"
        )
    given = {"steps": steps, "lam": lam, "trunk_fraction": trunk, "flops_goal": flops_goal}
    params = {k: v for k, v in given.items() if v is not None}
    settings = ExtractSettings(
        device=resolve_device(device), batch_size=batch_size, seed=seed, progress=not quiet, params=params
    )
    written = decompose(
        model,
        str(spec),
        out,
        classes=names or None,
        method=method,
        settings=settings,
        version=version,
        overwrite=overwrite,
    )
    click.echo(
        f"{'class':<16} {'binary acc':>10} {'recall':>8} {'FLOPs':>7} {'params':>8} {'bytes':>9}  package"
    )
    for w in written:
        m = w.manifest
        flops = (m.mask.flops_after or 0) / max(m.mask.flops_before or 1, 1)
        click.echo(
            f"{m.classes[0].name:<16} {m.metrics['overall']['accuracy']:10.2%} {m.metrics['overall']['recall']:8.2%} "
            f"{flops:7.1%} {m.mask.params_after:8d} {m.total_bytes:9d}  {w.path}"
        )
