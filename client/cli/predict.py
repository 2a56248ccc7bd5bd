"""``nnparts predict DIR IMAGE...``: classify image files with an assembled package."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nnparts.client.cli._options import make_client


@click.command(name="predict")
@click.argument("package", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def predict_command(package: Path, images: tuple[Path, ...], as_json: bool) -> None:
    """Print the predicted class (and its probability) of each IMAGE."""
    found = make_client(device="cpu").predict(package, images)
    rows = [
        {"image": str(p.image), "class": p.class_name, "probability": round(p.probability, 4)} for p in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['image']}\t{r['class']}\t{r['probability']:.4f}")
