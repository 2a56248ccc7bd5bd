"""``nnparts serve``: run a registry server that speaks the Hugging Face Hub API."""

from __future__ import annotations

import sys

import click

from nnparts.schemas.errors import UsageError


@click.command("serve")
@click.option(
    "--root",
    "root",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Directory for the database and blobs (created if missing).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="TCP port; 0 = any free.")
@click.option(
    "--tokens",
    "tokens",
    default=None,
    type=click.Path(dir_okay=False, path_type=str),
    help="JSON token table; without it the server is open: anyone may read and write.",
)
@click.option("--max-body-mb", type=float, default=None, help="Largest LFS upload (default 512).")
@click.option("--max-commit-mb", type=float, default=None, help="Largest NDJSON commit (default 256).")
@click.option(
    "--lfs-threshold-bytes",
    type=int,
    default=None,
    help="Files above this size are uploaded through LFS (default 10 MB).",
)
def serve_command(
    root: str,
    host: str,
    port: int,
    tokens: str | None,
    max_body_mb: float | None,
    max_commit_mb: float | None,
    lfs_threshold_bytes: int | None,
) -> None:
    """Serve a registry on HOST:PORT that the huggingface_hub client can use.

    Prints ``nnparts registry listening on http://HOST:PORT`` once the socket is bound.
    """
    from nnparts.registry import ServerConfig, serve

    for name, value in (("--max-body-mb", max_body_mb), ("--max-commit-mb", max_commit_mb)):
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be positive, got {value}")
    config = ServerConfig.from_args(
        root,
        host=host,
        port=port,
        tokens=tokens,
        max_body_mb=max_body_mb,
        max_commit_mb=max_commit_mb,
        lfs_threshold_bytes=lfs_threshold_bytes,
    )

    def announce(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        click.echo(f"nnparts registry listening on http://{shown}:{bound_port}")
        sys.stdout.flush()

    serve(config, on_ready=announce)
