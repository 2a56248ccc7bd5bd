"""``nnparts sign DIR --key KEY.pem``: sign a module package folder in place with model-signing."""

from __future__ import annotations

from pathlib import Path

import click

from nnparts.client.cli._options import sign_key_option


@click.command("sign")
@click.argument("package", metavar="DIR", type=click.Path(path_type=Path))
@sign_key_option("--key", "Sign with this PEM private key", required=True)
def sign_command(package: Path, key: Path) -> None:
    """Sign the module package in DIR (every file, manifest included) into DIR/package.sig."""
    echo_signed(package, key)


def echo_signed(package: Path, key: Path) -> None:
    """Sign ``package`` and say so (shared with ``publish --sign-key``)."""
    from nnparts.client.trust import sign_package
    from nnparts.schemas.package import read_manifest

    signer = sign_package(package, key)
    m = read_manifest(package)
    click.echo(f"signed {m.id}@{m.version} with key {signer.fingerprint} ({package / 'package.sig'})")
