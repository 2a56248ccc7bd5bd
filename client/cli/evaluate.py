"""``nnparts eval MODEL --data SPEC``: top-1 accuracy overall and per class."""

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
    split_option,
)

if TYPE_CHECKING:
    from nnparts.client.data import DataSpec


@click.command(name="eval")
@click.argument("model", type=click.Path(path_type=Path))
@data_option(multiple=True, required=True)
@split_option("test")
@json_option
@click.option(
    "--latency",
    is_flag=True,
    help='Also measure CPU latency at batch 1 and 64 (median of interleaved runs, 2 threads): "latency_ms".',
)
@device_option
@batch_size_option(256)
@quiet_option
def eval_command(
    model: Path,
    data: tuple[DataSpec, ...],
    split: str,
    as_json: bool,
    latency: bool,
    device: str,
    batch_size: int,
    quiet: bool,
) -> None:
    """Top-1 accuracy of MODEL (a package folder) on a split of --data, overall and per class.

    When the model knows fewer classes than the data set, only images of its classes are used.
    An assembled package may be evaluated on several data sets at once (repeat --data); a class
    module reports its one-vs-rest metrics.
    """
    from nnparts.client.api import Client

    client = Client(device=device, batch_size=batch_size, progress=not quiet)
    result = client.evaluate(model, list(data), split=split, latency=latency)
    report: dict[str, Any] = dict(result.report)
    if result.latency_ms is not None:
        report["latency_ms"] = dict(result.latency_ms)
    if as_json:
        click.echo(json.dumps({"path": str(model), "device": client.device, **report}, indent=2))
    elif "overall" in report:  # a module package
        click.echo(f"model  {model}")
        click.echo(f"data   {', '.join(report['datasets'])} ({split}, {report['samples']} images)")
        for key, value in report["overall"].items():
            click.echo(f"{key:<18} {value * 100:.2f} %")
        _print_latency(report.get("latency_ms"))
    else:  # an origin model
        _print_table(report)
        _print_latency(report.get("latency_ms"))


def _print_latency(timing: dict[str, object] | None) -> None:
    if timing is not None:
        click.echo(
            f"latency (CPU, {timing['threads']} threads, median of {timing['rounds']}): "
            f"batch 1 {timing['1']} ms, batch 64 {timing['64']} ms"
        )


def _print_table(report: dict[str, Any]) -> None:
    click.echo(f"model  {report['model']}")
    click.echo(f"data   {report['data']} ({report['split']}, {report['samples']} images)")
    click.echo(f"top-1  {report['top1'] * 100:.2f} %")
    click.echo("")
    classes = report["classes"]
    width = max(5, *(len(c) for c in classes))
    click.echo(f"{'class'.ljust(width)}  {'images':>7}  {'top-1':>8}")
    for cls, acc, n in zip(classes, report["per_class"], report["per_class_samples"], strict=True):
        shown = "-" if acc is None else f"{acc * 100:.2f} %"
        click.echo(f"{cls.ljust(width)}  {n:>7}  {shown:>8}")
