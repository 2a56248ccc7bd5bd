"""Root click group. Commands live one per module and load lazily, so ``--help`` never imports torch."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any, TextIO

import click

from nnparts.schemas.errors import NnpartsError, NnpartsWarning

# command name -> (module under nnparts.client.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "model": ("model", "model_group", "Import and inspect origin models."),
    "eval": (
        "evaluate",
        "eval_command",
        "Top-1 accuracy of a model or module package on a data spec.",
    ),
    "publish": ("registry_cmds", "publish_command", "Publish a module package to a registry."),
    "search": ("registry_cmds", "search_command", "Find modules by class name or alias."),
    "show": ("registry_cmds", "show_command", "Show one module's manifest."),
    "list": ("registry_cmds", "list_command", "List the modules of a registry."),
    "yank": ("registry_cmds", "yank_command", "Mark a module version as yanked."),
    "sign": ("sign", "sign_command", "Sign a module package folder in place (package.sig)."),
    "bundle": ("bundle", "bundle_group", "Export or import an offline bundle of locked packages."),
    "decompose": ("decompose", "decompose_command", "Cut a model into one module per class."),
    "reengineer": (
        "reengineer",
        "reengineer_command",
        "Re-engineer a sub-model for target classes (SeaM).",
    ),
    "compose": ("compose", "compose_command", "Compose class modules into an N-way classifier."),
    "install": (
        "install",
        "install_command",
        "Install modules by class name and write a lockfile.",
    ),
    "assemble": ("assemble", "assemble_command", "Assemble installed modules into one model."),
    "predict": ("predict", "predict_command", "Classify image files with an assembled model."),
    "replace": ("replace", "replace_command", "Replace one class's module in an assembled model."),
    "serve": ("serve", "serve_command", "Run a registry server that speaks the Hub API."),
    "quickstart": (
        "quickstart",
        "quickstart_command",
        "The end-to-end demo on the bundled digits.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is invoked or asked for help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f"nnparts.client.cli.{spec[0]}")
        command = getattr(module, spec[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            shown = warnings.showwarning
            with warnings.catch_warnings():  # restores the filters and showwarning afterwards
                warnings.simplefilter("always", NnpartsWarning)
                warnings.showwarning = partial(_show_warning, shown)
                return super().invoke(ctx)
        except NnpartsError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as err:
            click.echo(f"error: {_os_error(err)}", err=True)
            sys.exit(2)


def _show_warning(
    otherwise: Callable[..., None],
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """An :class:`NnpartsWarning` as one ``warning:`` line on stderr, when it happens; other
    warnings as before (``otherwise``)."""
    if issubclass(category, NnpartsWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        otherwise(message, category, filename, lineno, file, line)


def _os_error(err: OSError) -> str:
    """One line for the file-system faults a user causes (a read-only folder, a file where a folder
    belongs, or the reverse): what, where, and the fix."""
    where = err.filename or "?"
    if isinstance(err, PermissionError):
        return f"permission denied: {where}; make it writable (or choose another path)"
    if isinstance(err, IsADirectoryError):
        return f"{where} is a folder; name a file path instead"
    if isinstance(err, NotADirectoryError):
        return f"{where} is (or lies under) a file, not a folder; name a folder path instead"
    return f"{where} already exists; remove it or choose another path"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    None, "-V", "--version", package_name="nnparts", prog_name="nnparts", message="%(prog)s %(version)s"
)
def main() -> None:
    """nnparts: pip for the pieces of trained CNNs.

    Cut trained models into per-class modules, publish them to a registry, install them by class
    name and assemble new models from them.
    """
