"""Signing keys and small signed registries for the trust and bundle tests (no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nnparts.client.cli import main


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def make_key(folder: Path, name: str, curve: ec.EllipticCurve | None = None) -> KeyPair:
    """A fresh EC key pair (P-256 by default) as PEM files ``<name>.pem`` and ``<name>.pub.pem``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(curve or ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit 2 with exactly one ``error:`` line on stderr naming every fragment, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


def cache_entries(home: Path) -> list[str]:
    """Everything in ``home/installed`` (package folders and any leftover staging folder)."""
    root = home / "installed"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []
