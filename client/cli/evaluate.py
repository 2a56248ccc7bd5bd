"""``nnparts eval MODEL --data SPEC``: top-1 accuracy overall and per class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nnparts.client.cli._options import (
    batch_size_option,
    data_option,
    device_option,
    json_option,
    quiet_option,
    split_option,
)
from nnparts.schemas.errors import UsageError

if TYPE_CHECKING:
    from nnparts.client.data import DataSpec
    from nnparts.client.zoo.evaluation import EvalResult


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
    from nnparts.client.cli._options import resolve_device
    from nnparts.client.data import check_spec, load_split
    from nnparts.client.zoo.evaluation import align_classes, evaluate, load_any

    specs = [check_spec(d) for d in data]
    dev = resolve_device(device)
    if (model / "manifest.json").is_file():
        from nnparts.client.assemble.build import evaluate_package

        report = evaluate_package(
            model, [str(s) for s in specs], split=split, batch_size=batch_size, device=dev
        )
        if latency:
            report["latency_ms"] = _latency(model)
        if as_json:
            click.echo(json.dumps({"path": str(model), "device": dev, **report}, indent=2))
        else:
            click.echo(f"model  {model}")
            click.echo(f"data   {', '.join(report['datasets'])} ({split}, {report['samples']} images)")
            for key, value in report["overall"].items():
                click.echo(f"{key:<18} {value * 100:.2f} %")
            _print_latency(report.get("latency_ms"))
        return
    if len(specs) != 1:
        raise UsageError("an origin model is evaluated on one data set", hint="pass --data once")
    (spec,) = specs
    loaded = load_any(model, device=dev)
    subset = align_classes(load_split(spec, split), loaded.classes)
    result = evaluate(
        loaded.module, subset, loaded.input_spec, batch_size=batch_size, device=dev, progress=not quiet
    )
    timing = _latency(model) if latency else None
    if as_json:
        doc = {
            "model": loaded.name,
            "path": str(model),
            "data": subset.spec,
            "device": dev,
            **result.to_dict(),
        }
        if timing is not None:
            doc["latency_ms"] = timing
        click.echo(json.dumps(doc, indent=2))
    else:
        _print_table(loaded.name, subset.spec, result)
        _print_latency(timing)


def _latency(model: Path) -> dict[str, object]:
    from nnparts.client.assemble.build import image_model
    from nnparts.client.zoo.latency import interleaved_latency

    run, shape = image_model(model)
    return interleaved_latency({"model": run}, shape)["model"]


def _print_latency(timing: dict[str, object] | None) -> None:
    if timing is not None:
        click.echo(
            f"latency (CPU, {timing['threads']} threads, median of {timing['rounds']}): "
            f"batch 1 {timing['1']} ms, batch 64 {timing['64']} ms"
        )


def _print_table(name: str, spec: str, result: EvalResult) -> None:
    click.echo(f"model  {name}")
    click.echo(f"data   {spec} ({result.split}, {result.samples} images)")
    click.echo(f"top-1  {result.top1 * 100:.2f} %")
    click.echo("")
    width = max(5, *(len(c) for c in result.classes))
    click.echo(f"{'class'.ljust(width)}  {'images':>7}  {'top-1':>8}")
    for cls, acc, n in zip(result.classes, result.per_class, result.per_class_samples, strict=True):
        shown = "-" if acc is None else f"{acc * 100:.2f} %"
        click.echo(f"{cls.ljust(width)}  {n:>7}  {shown:>8}")
