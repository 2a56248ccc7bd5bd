"""The one exception hierarchy of nnparts.

Every error a user can cause derives from :class:`NnpartsError`; the CLI turns it into one line on
stderr and exit code 2. Anything else escaping is a bug. Messages say what was wrong, the value that
was received and the next step.

::

    NnpartsError
    ├── UsageError(ValueError)            bad argument value (data spec, JSON option, device ...)
    │   └── DataSpecError                 a data spec that does not parse or points nowhere
    ├── FileMissing(FileNotFoundError)    a path the user named does not exist
    ├── ManifestError(ValueError)         a document violates its JSON schema (carries the pointer)
    ├── IntegrityError(ValueError)        sha256, size, shape or dtype differs from the manifest
    ├── WeightsError(ValueError)          strict state-dict load failed (missing/unexpected/shape)
    ├── GraphError(ValueError)            a model graph nnparts cannot trace or rebuild
    │   └── UnsupportedOperation          an operation outside the supported set, with its place
    ├── ModuleNotFound(LookupError)       no module/entry with that id or reference
    │   └── UnknownClass                  no module provides that class (lists the nearest names)
    ├── ResolutionError(LookupError)      install constraints cannot be met
    ├── RegistryError(OSError)            a registry cannot be read or written
    │   ├── ConflictError                 a concurrent update won; retry
    │   └── RemoteError                   an HTTP registry answered with an error
    ├── AuthError(PermissionError)        missing or insufficient token
    └── TrustError(PermissionError)       a package is unsigned, signed by an untrusted key, or altered

    NnpartsWarning(UserWarning)           valid, but likely not what the user wants (the CLI prints
                                          it as one ``warning:`` line on stderr)
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

#: the OS errors that mean "the disk is full": ENOSPC no space left, EDQUOT quota exceeded, EFBIG a
#: file-size limit (RLIMIT_FSIZE) reached
FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class NnpartsError(Exception):
    """Root of all nnparts errors. ``str(err)`` is the one line shown to the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class UsageError(NnpartsError, ValueError):
    """A command-line or API argument has a value nnparts cannot use."""


class DataSpecError(UsageError):
    """A data spec (``digits``, ``cifar10:DIR`` ...) is malformed or points to missing files."""


class FileMissing(NnpartsError, FileNotFoundError):
    """A path named by the user does not exist."""

    def __init__(self, path: str, *, hint: str | None = None) -> None:
        super().__init__(f"no such file or directory: {path}", hint=hint or "check the path")
        self.path = path


class ManifestError(NnpartsError, ValueError):
    """A JSON document violates its schema; ``pointer`` is the JSON pointer of the failing field."""

    def __init__(self, message: str, *, pointer: str = "", source: str = "", hint: str | None = None):
        self.pointer = pointer
        self.source = source
        where = f"{source}: " if source else ""
        at = f" at {pointer or '/'}" if pointer is not None else ""
        super().__init__(f"{where}invalid document{at}: {message}", hint=hint)


class IntegrityError(NnpartsError, ValueError):
    """A file or tensor does not match what its manifest records."""

    def __init__(self, message: str, *, path: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "the file is corrupt or was modified; fetch it again")
        self.path = path


class WeightsError(NnpartsError, ValueError):
    """Weights do not fit the architecture (strict load)."""

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
        mismatched: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        parts = [message]
        for label, keys in (
            ("missing keys", self.missing),
            ("unexpected keys", self.unexpected),
            ("shape mismatches", self.mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
                parts.append(f"{label}: {shown}")
        super().__init__("; ".join(parts), hint=hint)


class GraphError(NnpartsError, ValueError):
    """A model graph cannot be traced, checked or rebuilt."""


class UnsupportedOperation(GraphError):
    """The traced graph holds an operation outside the supported set."""

    def __init__(self, op: str, where: str) -> None:
        super().__init__(
            f"unsupported operation {op!r} at {where}",
            hint="supported: conv (any groups), batch norm, relu/relu6, max/avg/adaptive pooling, "
            "add, cat, flatten, linear, dropout",
        )
        self.op = op
        self.where = where


class ModuleNotFound(NnpartsError, LookupError):
    """No module or index entry matches a reference."""

    def __init__(self, ref: str, *, hint: str | None = None) -> None:
        super().__init__(f"no module {ref!r} in the registry", hint=hint or "try `nnparts list`")
        self.ref = ref


class UnknownClass(ModuleNotFound):
    """No module provides a class name; ``nearest`` lists close known names."""

    def __init__(self, class_name: str, nearest: Sequence[str] = ()) -> None:
        self.class_name = class_name
        self.nearest = list(nearest)
        hint = (
            f"did you mean: {', '.join(self.nearest)}?"
            if self.nearest
            else "no similar class is published; see `nnparts list`"
        )
        NnpartsError.__init__(self, f"unknown class {class_name!r}", hint=hint)
        self.ref = class_name


class ResolutionError(NnpartsError, LookupError):
    """Install constraints cannot be satisfied; ``causes`` lists why per candidate."""

    def __init__(self, message: str, *, causes: Sequence[str] = (), hint: str | None = None):
        self.causes = list(causes)
        detail = f" ({'; '.join(self.causes[:3])})" if self.causes else ""
        super().__init__(message + detail, hint=hint)


class RegistryError(NnpartsError, OSError):
    """A registry cannot be read or written."""


class ConflictError(RegistryError):
    """A concurrent update changed the registry first; the operation may be retried."""


class RemoteError(RegistryError):
    """An HTTP registry answered with an error."""

    def __init__(
        self, message: str, *, status: int = 0, request_id: str = "", hint: str | None = None
    ) -> None:
        self.status = status
        self.request_id = request_id
        super().__init__(message, hint=hint)


class AuthError(NnpartsError, PermissionError):
    """A token is missing or lacks the needed scope."""


class TrustError(NnpartsError, PermissionError):
    """A package fails the trust policy: unsigned, signed by a key not trusted, or altered after signing."""

    def __init__(self, message: str, *, ref: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ref = ref


class NnpartsWarning(UserWarning):
    """A result that is valid but likely not what the user wants (e.g. model selection on data the
    origin memorised). The message names the cause and the fix; the CLI prints it as one line."""
