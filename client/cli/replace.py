"""``nnparts replace DIR CLASS=MODULE_REF``: swap one class's module in an assembled package."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nnparts.client.cli._options import json_option, open_registries, quiet_option, registries_option
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
    from nnparts.client.assemble import load_assembly, with_part_replaced, write_assembly

    class_name, sep, ref = assignment.partition("=")
    if not sep or not class_name or not ref:
        raise UsageError(
            f"expected CLASS=MODULE_REF, got {assignment!r}",
            hint="e.g. cat=resnet20-cifar10/cat-channel@1.0.0",
        )
    from nnparts.client.resolve.fetch import fetch_ref

    assembly = load_assembly(package)
    new_part = Path(ref)
    if not new_part.is_dir():  # every --registry, in priority order; fetched (with its trunk) into the cache
        new_part = fetch_ref(open_registries(registries), ref)
    specs = with_part_replaced(assembly, class_name, new_part)
    write_assembly(
        out or package,
        specs,
        assembly.classes,
        rule=assembly.rule,
        abstain=assembly.abstain,
        name=assembly.manifest.name,
        overwrite=True,
        stitch=None,
    )
    if as_json:
        doc = {"path": str(out or package), "class": class_name, "module": ref}
        click.echo(json.dumps(doc | {"stitch_dropped": assembly.stitch is not None}, indent=2))
        return
    note = " (its stitching head was dropped: re-run with --calibrate to refit)" if assembly.stitch else ""
    click.echo(f"replaced the module for {class_name!r} with {ref} in {out or package}{note}")
