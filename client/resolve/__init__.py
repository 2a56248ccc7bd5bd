"""nnparts.client.resolve: pick modules for class names, pin them in a lockfile. Torch-free."""

from __future__ import annotations

from nnparts.client.resolve.fetch import ModuleInfo, describe_ref, fetch_ref
from nnparts.client.resolve.installer import (
    InstallResult,
    install,
    install_frozen,
    installed_path,
    installed_root,
)
from nnparts.client.resolve.lockfile import LockedModule, Lockfile, read_lockfile, write_lockfile
from nnparts.client.resolve.policy import Constraints, Pick, Plan, Rival, Source, explain, resolve
from nnparts.client.resolve.publish import Published, Signed, publish_package

__all__ = [
    "Constraints",
    "InstallResult",
    "LockedModule",
    "Lockfile",
    "ModuleInfo",
    "Pick",
    "Plan",
    "Published",
    "Rival",
    "Signed",
    "Source",
    "describe_ref",
    "explain",
    "fetch_ref",
    "install",
    "install_frozen",
    "installed_path",
    "installed_root",
    "publish_package",
    "read_lockfile",
    "resolve",
    "write_lockfile",
]
