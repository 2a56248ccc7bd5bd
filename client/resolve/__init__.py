"""nnparts.client.resolve: pick modules for class names, pin them in a lockfile. Torch-free."""

from __future__ import annotations

from nnparts.client.resolve.installer import (
    InstallResult,
    install,
    install_frozen,
    installed_path,
    installed_root,
)
from nnparts.client.resolve.lockfile import LockedModule, Lockfile, read_lockfile, write_lockfile
from nnparts.client.resolve.policy import Constraints, Pick, Plan, Rival, Source, explain, resolve

__all__ = [
    "Constraints",
    "InstallResult",
    "LockedModule",
    "Lockfile",
    "Pick",
    "Plan",
    "Rival",
    "Source",
    "explain",
    "install",
    "install_frozen",
    "installed_path",
    "installed_root",
    "read_lockfile",
    "resolve",
    "write_lockfile",
]
