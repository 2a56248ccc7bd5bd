"""``nnparts replace DIR CLASS=MODULE_REF``: swap one class's module in an assembled package."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nnparts.client.cli._options import json_option, make_client, quiet_option, registries_option
from nnparts.schemas.errors import UsageError


@click.command(name="replace")
@click.argument("package", type=click.Path(path_type=Path))
@click.argument("assignment", metavar="CLASS=MODULE_REF")
@registries_option
@click.option(
    "--out", "out", type=click.Path(path_type=Path), default=None, help="Write here instead of in place."
)
@quiet_option
@json_option
def replace_command(
    package: Path, assignment: str, registries: tuple[str, ...], out: Path | None, quiet: bool, as_json: bool
) -> None:
    """Replace the module answering CLASS with MODULE_REF: a package folder or ``id[@version]`` in a registry."""
    class_name, sep, ref = assignment.partition("=")
    if not sep or not class_name or not ref:
        raise UsageError(
            f"expected CLASS=MODULE_REF, got {assignment!r}",
            hint="e.g. cat=resnet20-cifar10/cat-channel@1.0.0",
        )
    done = make_client(registries=registries, device="cpu", quiet=quiet).replace(
        package, class_name, ref, out=out
    )
    if as_json:
        doc = {
            "path": str(done.path),
            "class": class_name,
            "module": ref,
            "stitch_dropped": done.stitch_dropped,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    note = (
        " (its stitching head was dropped: re-run with --calibrate to refit)" if done.stitch_dropped else ""
    )
    click.echo(f"replaced the module for {class_name!r} with {ref} in {done.path}{note}")
