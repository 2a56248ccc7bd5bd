"""``nnparts sign DIR --key KEY.pem``: sign a module package folder in place with model-signing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nnparts.client.cli._options import make_client, sign_key_option

if TYPE_CHECKING:
    from nnparts.client.resolve import Signed


@click.command("sign")
@click.argument("package", metavar="DIR", type=click.Path(path_type=Path))
@sign_key_option("--key", "Sign with this PEM private key", required=True)
def sign_command(package: Path, key: Path) -> None:
    """Sign the module package in DIR (every file, manifest included) into DIR/package.sig."""
    echo_signed(make_client().sign(package, key))


def echo_signed(signed: Signed) -> None:
    """Say that a folder was signed (shared with ``publish --sign-key``)."""
    from nnparts.schemas.signature import SIGNATURE_NAME

    click.echo(f"signed {signed.ref} with key {signed.signer.fingerprint} ({signed.path / SIGNATURE_NAME})")
