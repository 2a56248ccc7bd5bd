"""``nnparts predict DIR IMAGE...``: classify image files with an assembled package."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(name="predict")
@click.argument("package", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def predict_command(package: Path, images: tuple[Path, ...], as_json: bool) -> None:
    """Print the predicted class (and its probability) of each IMAGE."""
    import torch

    from nnparts.client.assemble import load_assembly
    from nnparts.client.data._formats import open_image, to_8bit
    from nnparts.schemas.errors import FileMissing

    for path in images:  # every image checked (header only) before the model is loaded
        if not path.is_file():
            raise FileMissing(str(path))
        open_image(path).close()
    assembly = load_assembly(package)
    model = assembly.model()
    rows = []
    for path in images:
        with open_image(path) as img:
            arr = to_8bit(img)
        x = torch.from_numpy(arr[..., None] if arr.ndim == 2 else arr).unsqueeze(0)
        with torch.no_grad():
            scores = model(x)
        label = int(model.decide(scores)[0])
        probs = torch.softmax(scores, 1)[0] if assembly.stitch is not None else torch.sigmoid(scores[0])
        name = assembly.classes[label] if label >= 0 else "unknown"
        rows.append({"image": str(path), "class": name, "probability": round(float(probs.max()), 4)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['image']}\t{r['class']}\t{r['probability']:.4f}")
