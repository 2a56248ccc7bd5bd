"""``nnparts quickstart``: the end-to-end demo on scikit-learn's bundled digits."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import device_option, quiet_option


@click.command(name="quickstart")
@click.option(
    "--registry",
    "registry",
    default=None,
    metavar="PATH_OR_URL",
    help="Registry to publish to and install from (default: the embedded local one).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where origins, modules, the lockfile and the assembly go (default $NNPARTS_HOME/quickstart).",
)
@click.option("--epochs", type=int, default=30, show_default=True, help="Training epochs per small CNN.")
@click.option(
    "--tune-epochs",
    type=float,
    default=3.0,
    show_default=True,
    help="Fine-tuning epochs of the tails (the trunk gets a third).",
)
@device_option
@quiet_option
def quickstart_command(
    registry: str | None, workdir: Path | None, epochs: int, tune_epochs: float, device: str, quiet: bool
) -> None:
    """Train two digit CNNs (0-4, 5-9), decompose them, publish the modules, install all ten digits by
    class name, assemble a 0-9 classifier and compare it with a model trained from scratch."""
    from nnparts.client.cli._options import make_client
    from nnparts.client.quickstart import format_report

    client = make_client(registries=[registry] if registry else (), device=device, quiet=quiet)
    report = client.quickstart(
        workdir, epochs=epochs, tune_epochs=tune_epochs, log=lambda msg: click.echo(msg, err=True)
    )
    click.echo(format_report(report))
