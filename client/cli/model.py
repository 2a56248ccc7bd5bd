"""``nnparts model import|show``: origin-model packages. Thin wrappers over ``nnparts.client.zoo``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nnparts.client.cli._options import json_option, make_client
from nnparts.schemas.errors import UsageError


@click.group(name="model")
def model_group() -> None:
    """Import and inspect origin models (trained CNNs that modules are cut from)."""


def _json_object(option: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{option} is not valid JSON: {text!r}", hint="write e.g. '{\"num_classes\": 10}'"
        ) from exc
    if not isinstance(value, dict):
        raise UsageError(
            f"{option} must be a JSON object, got {text!r}", hint="write e.g. '{\"num_classes\": 10}'"
        )
    return value


@model_group.command(name="import")
@click.option("--arch", help="Zoo name (cifar_resnet20 ...), torchvision:NAME or package.module:function.")
@click.option(
    "--weights",
    "weights",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="safetensors file; repeat for a sharded state dict.",
)
@click.option("--arch-kwargs", help="Builder kwargs as JSON, e.g. '{\"num_classes\": 10}'.")
@click.option(
    "--meta", type=click.Path(path_type=Path), help="Fixture-style JSON: classes, input, accuracy ..."
)
@click.option("--classes", multiple=True, help="Class names in output order (comma-separated or repeated).")
@click.option("--name", help="Model name (default: from --meta, else the --out folder's name).")
@click.option("--dataset", help="Name of the training data set (default: from --meta).")
@click.option(
    "--input-spec", help='JSON: {"channels": 3, "height": 32, "width": 32, "mean": [...], "std": [...]}.'
)
@click.option("--license", "license_", help="License of the weights.")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Package folder."
)
@click.option("--force", is_flag=True, help="Overwrite an existing package in --out.")
def import_command(
    arch: str | None,
    weights: tuple[Path, ...],
    arch_kwargs: str | None,
    meta: Path | None,
    classes: tuple[str, ...],
    name: str | None,
    dataset: str | None,
    input_spec: str | None,
    license_: str | None,
    out: Path,
    force: bool,
) -> None:
    """Import trained safetensors weights as an origin-model package (model.json + weights)."""
    from nnparts.client.api import input_spec as parse_input

    spec_doc = _json_object("--input-spec", input_spec)
    origin = make_client().import_model(
        weights,
        arch=arch,
        arch_kwargs=_json_object("--arch-kwargs", arch_kwargs),
        meta=meta,
        classes=classes,
        name=name,
        dataset=dataset,
        input=None if spec_doc is None else parse_input(spec_doc, what="--input-spec"),
        license=license_,
        out=out,
        overwrite=force,
    )
    click.echo(
        f"imported {origin.name} ({origin.architecture}, {len(origin.classes)} classes, "
        f"weights sha256 {origin.meta.files[0].sha256[:12]}) -> {out}"
    )


@model_group.command(name="show")
@click.argument("package", type=click.Path(path_type=Path))
@json_option
def show_command(package: Path, as_json: bool) -> None:
    """Show an origin-model package's model.json (validated; no torch needed)."""
    meta = make_client().origin(package).meta
    if as_json:
        click.echo(json.dumps(meta.to_dict(), indent=2, sort_keys=True))
        return
    spec = meta.input
    rows = [
        ("name", meta.name),
        ("architecture", f"{meta.architecture} {json.dumps(dict(meta.arch_kwargs), sort_keys=True)}"),
        ("dataset", meta.dataset),
        ("classes", f"{len(meta.classes)}: {', '.join(meta.classes)}"),
        (
            "input",
            f"{spec.channels}x{spec.height}x{spec.width}, mean {list(spec.mean)}, std {list(spec.std)}",
        ),
    ]
    if meta.accuracy is not None:
        rows.append(("accuracy", f"{meta.accuracy.top1 * 100:.2f} % top-1 ({meta.accuracy.split})"))
    rows += [("file", f"{f.path} {f.bytes} bytes sha256 {f.sha256}") for f in meta.files]
    if meta.license:
        rows.append(("license", meta.license))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key.ljust(width)}  {value}")
