"""``.gitattributes`` and ``.gitignore`` patterns, as the Hub applies them to uploads.

- :class:`LfsRules`: which paths the root ``.gitattributes`` stores with ``filter=lfs``. A pattern
  without ``/`` matches the file name at any depth, one with ``/`` the whole path; the last line
  that sets or unsets ``filter`` wins (``-filter``, ``!filter`` and ``filter=other`` unset it).
- :class:`IgnoreRules`: which paths a root ``.gitignore`` ignores: ``#`` comments, ``!`` negation,
  a trailing ``/`` for folders only, a ``/`` at the start or in the middle anchors to the root, and
  nothing below an ignored folder can be re-included (git's rule).
- :func:`default_gitattributes`: the file every new Hub repository starts with.

Globs follow git's wildmatch: ``*`` and ``?`` never match ``/``, ``**`` spans folders, ``[...]``
classes, ``\\`` escapes. Costs: one compiled regex per line, each path tested against every line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LFS = "filter=lfs diff=lfs merge=lfs -text"
_MODEL_PATTERNS = [
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
]
_DATASET_PATTERNS = [
    "*.lz4",
    "*.mds",
    "*.pcm",
    "*.sam",
    "*.raw",
    "*.aac",
    "*.flac",
    "*.mp3",
    "*.ogg",
    "*.wav",
    "*.bmp",
    "*.gif",
    "*.png",
    "*.tiff",
    "*.jpg",
    "*.jpeg",
    "*.webp",
    "*.mp4",
    "*.webm",
]


def default_gitattributes(repo_type: str) -> bytes:
    """The Hub's default ``.gitattributes`` for a new repo (datasets add audio, image and video)."""
    lines = [f"{p} {_LFS}" for p in _MODEL_PATTERNS]
    if repo_type == "dataset":
        lines += ["# Audio, image and video files", *(f"{p} {_LFS}" for p in _DATASET_PATTERNS)]
    return ("\n".join(lines) + "\n").encode()


def glob_regex(glob: str) -> str:
    """git wildmatch (with ``FNM_PATHNAME``) as a regular expression over a whole path."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*" and glob.startswith("**", i):
            at_start = i == 0 or glob[i - 1] == "/"
            after = glob[i + 2 : i + 3]
            if at_start and after == "/":
                out.append("(?:.*/)?")
                i += 3
                continue
            if at_start and after == "":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := _class_end(glob, i)) > 0:
            body = glob[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^/" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    j = start + 1
    if j < len(glob) and glob[j] in "!^":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    end = glob.find("]", j)
    return end


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    anchored: bool
    value: bool
    folders_only: bool = False

    def matches(self, path: str) -> bool:
        if self.anchored:
            return self.regex.fullmatch(path) is not None
        return self.regex.fullmatch(path.rsplit("/", 1)[-1]) is not None


def _rule(pattern: str, value: bool, *, folders_only: bool = False) -> _Rule:
    anchored = "/" in pattern
    return _Rule(re.compile(glob_regex(pattern.lstrip("/"))), anchored, value, folders_only)


class LfsRules:
    """The ``filter=lfs`` lines of a ``.gitattributes`` file."""

    def __init__(self, text: str) -> None:
        self.rules: list[_Rule] = []
        for line in text.splitlines():
            fields = line.strip().split()
            if not fields or fields[0].startswith("#") or fields[0].startswith("!"):
                continue  # negative patterns are forbidden in .gitattributes
            value: bool | None = None
            for attr in fields[1:]:
                if attr == "filter=lfs":
                    value = True
                elif attr in ("-filter", "!filter") or attr.startswith("filter="):
                    value = False
            if value is not None and not fields[0].endswith("/"):
                self.rules.append(_rule(fields[0], value))

    def is_lfs(self, path: str) -> bool:
        """Whether ``path`` is stored with ``filter=lfs``."""
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule.value
        return False


class IgnoreRules:
    """The patterns of a ``.gitignore`` file at the repository root."""

    def __init__(self, text: str) -> None:
        self.rules: list[_Rule] = []
        for raw in text.splitlines():
            line = raw.rstrip("\r")
            if not line.endswith("\\ "):
                line = line.rstrip(" ")
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            line = line[1:] if keep else line
            folders_only = line.endswith("/")
            line = line.rstrip("/")
            if line:
                self.rules.append(_rule(line, not keep, folders_only=folders_only))

    def _verdict(self, path: str, *, folder: bool) -> bool:
        for rule in reversed(self.rules):
            if (folder or not rule.folders_only) and rule.matches(path):
                return rule.value
        return False

    def ignored(self, path: str) -> bool:
        """Whether a file at ``path`` is ignored (itself, or a folder above it)."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self._verdict("/".join(parts[:depth]), folder=True):
                return True
        return self._verdict(path, folder=False)
