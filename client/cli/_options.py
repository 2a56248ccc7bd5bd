"""Click options shared by every command, defined once: --device, --batch-size, --data, --registry ...

Nothing here imports torch; a command's :func:`make_client` resolves ``--device`` when it computes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nnparts.client.device import check_device
from nnparts.client.progress import progress_wanted
from nnparts.schemas.errors import UsageError

if TYPE_CHECKING:
    from nnparts.client.api import Client
    from nnparts.client.assemble import AssembledModel

F = TypeVar("F", bound=Callable[..., Any])


def _device_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    return check_device(value)


def device_option(f: F) -> F:
    """``--device``: auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps."""
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        callback=_device_callback,
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps.",
    )(f)


def batch_size_option(default: int = 256) -> Callable[[F], F]:
    """``--batch-size`` with the given default (must be positive)."""

    def decorate(f: F) -> F:
        return click.option(
            "--batch-size",
            type=int,
            default=default,
            show_default=True,
            help="Images per forward pass.",
        )(f)

    return decorate


def data_option(
    *, required: bool = True, help: str | None = None, multiple: bool = False
) -> Callable[[F], F]:
    """``--data SPEC``: digits, cifar10:DIR, fashion-mnist:DIR or imagefolder:DIR (parsed to a DataSpec;
    a tuple of them when ``multiple``)."""

    def parse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        from nnparts.client.data import parse_spec

        if multiple:
            return tuple(parse_spec(v) for v in value)
        return parse_spec(value)

    def decorate(f: F) -> F:
        return click.option(
            "--data",
            metavar="SPEC",
            required=required,
            multiple=multiple,
            callback=parse,
            help=help
            or "Data spec: digits, cifar10:DIR, fashion-mnist:DIR or imagefolder:DIR; DIR?val=test carves val "
            "from the test set (for origins trained on all of train).",
        )(f)

    return decorate


def split_option(default: str = "test") -> Callable[[F], F]:
    """``--split``: train, val or test (val is carved from train with a fixed seed)."""

    def decorate(f: F) -> F:
        return click.option(
            "--split",
            type=click.Choice(["train", "val", "test"]),
            default=default,
            show_default=True,
            help="Which split of the data (val is a seeded 10 % of train; digits: 60/20/20).",
        )(f)

    return decorate


def registry_option(f: F) -> F:
    """``--registry PATH_OR_URL``: one registry (default: the local one at ``$NNPARTS_HOME``)."""
    return click.option(
        "--registry",
        "registry",
        metavar="PATH_OR_URL",
        default=None,
        help="Registry folder or http(s) URL [default: $NNPARTS_HOME or ~/.cache/nnparts].",
    )(f)


def quiet_option(f: F) -> F:
    """``--quiet``: no progress bars (they are also off when stderr is not a terminal)."""
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        callback=lambda ctx, param, value: not progress_wanted(value),
        help="No progress bars (none either when stderr is not a terminal).",
    )(f)


def json_option(f: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def registries_option(f: F) -> F:
    """``--registry PATH_OR_URL`` (repeatable, in priority order; default ``$NNPARTS_HOME``)."""
    return click.option(
        "--registry",
        "registries",
        multiple=True,
        metavar="PATH_OR_URL",
        help="Registry folder or Hub URL; repeat for several, highest priority first "
        "(default: $NNPARTS_HOME or ~/.cache/nnparts).",
    )(f)


def make_client(
    *,
    registries: Sequence[str] = (),
    device: str = "auto",
    batch_size: int = 256,
    quiet: bool = False,
) -> Client:
    """The :class:`~nnparts.client.Client` a command runs on: ``--registry`` values (the local
    registry at ``$NNPARTS_HOME`` when none is given), ``--device``, ``--batch-size``, ``--quiet``."""
    from nnparts.client.api import Client

    return Client(
        registries=list(registries) or None, device=device, batch_size=batch_size, progress=not quiet
    )


def _writable_onnx(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse an ``--onnx`` path that cannot be written before anything is assembled: a probe file is
    created (and removed) where the export will write its temporary file."""
    if value is None:
        return None
    fix = "name a file in an existing, writable folder"
    if not value.parent.is_dir():
        raise UsageError(f"--onnx {value}: {value.parent} is not an existing folder", hint=fix)
    probe = value.with_name(f".{value.name}.export")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise UsageError(f"--onnx {value} cannot be written: {exc.strerror}", hint=fix) from None
    os.close(fd)
    probe.unlink()
    return value


def assembly_options(f: F) -> F:
    """The options shared by ``assemble`` and ``compose``: how the parts are composed and exported."""
    options = [
        click.option(
            "--calibrate",
            "calibrate",
            multiple=True,
            metavar="SPEC",
            help="Fit a few-shot stitching head on the val split of this data (repeatable); zero-shot without.",
        ),
        click.option(
            "--abstain",
            type=float,
            default=None,
            help="Answer 'unknown' below this probability, in (0, 1).",
        ),
        click.option(
            "--rule",
            type=click.Choice(["argmax", "vote"]),
            default="argmax",
            show_default=True,
            help="argmax of calibrated scores, or Pan & Rajan's vote.",
        ),
        click.option("--name", default="assembly", show_default=True, help="Name recorded in the manifest."),
        click.option(
            "--onnx",
            "onnx",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            callback=_writable_onnx,
            help="Also export the model to ONNX here (checked against onnxruntime when installed).",
        ),
        click.option("--overwrite", is_flag=True, help="Replace --out if it exists."),
        quiet_option,
        json_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def report_assembly(
    client: Client, model: AssembledModel, path: Path, onnx: Path | None, *, as_json: bool = False
) -> None:
    """Print what was assembled into ``path`` (as one JSON document with ``as_json``) and, with
    ``--onnx``, export it there and say how well onnxruntime agrees."""
    exported = client.export_onnx(path, onnx) if onnx is not None else None
    if as_json:
        doc: dict[str, Any] = {
            "path": str(path),
            "modules": len(model.parts),
            "classes": list(model.classes),
            "calibrated": model.stitch is not None,
        }
        if exported is not None:  # max_abs_diff None: onnxruntime not installed
            doc["onnx"] = {"path": str(exported.path), "max_abs_diff": exported.max_abs_diff}
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"assembled {len(model.parts)} modules answering {len(model.classes)} classes into {path}")
    click.echo(f"classes: {', '.join(model.classes)}")
    if exported is not None:
        diff = exported.max_abs_diff
        checked = (
            f"max |onnxruntime - torch| = {diff:.1e}" if diff is not None else "onnxruntime not installed"
        )
        click.echo(f"exported {exported.path} ({checked})")


def trust_option(f: F) -> F:
    """``--trust KEY.pem`` (repeatable): packages must be signed by one of these public keys."""
    return click.option(
        "--trust",
        "trust",
        multiple=True,
        metavar="PUB.pem",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Require every package to be signed by this public key (repeatable: any of them); "
        "rules per registry or namespace live in $NNPARTS_HOME/trust.toml.",
    )(f)


def sign_key_option(name: str, help: str, *, required: bool) -> Callable[[F], F]:
    """``--key``/``--sign-key KEY.pem``: a PEM EC private key (password in ``$NNPARTS_KEY_PASSWORD``)."""
    return click.option(
        name,
        "key",
        required=required,
        default=None,
        metavar="KEY.pem",
        type=click.Path(dir_okay=False, path_type=Path),
        help=help + " (an EC private key, P-256/384/521; password in $NNPARTS_KEY_PASSWORD).",
    )
