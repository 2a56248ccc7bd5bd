"""The trust policy: which packages must be signed, and by which keys. It is the installer's gate.

Rules come from ``--trust KEY.pem`` (one rule over every package) and from ``$NNPARTS_HOME/trust.toml``::

    # every module from this registry must be signed by Alice or Bob
    [[rule]]
    registry = "http://127.0.0.1:8080"   # a registry's name or URL as the lock records it; omit: any
    keys = ["keys/alice.pub.pem", "keys/bob.pub.pem"]   # relative to trust.toml's folder

    # modules whose id starts with "zoo/" must be signed by the zoo team
    [[rule]]
    namespace = "zoo"
    keys = ["keys/zoo-team.pub.pem"]

Every rule that matches a package must accept its signer (rules are requirements, so they only ever
narrow); a package no rule matches is installed on its hashes alone. A lock that recorded a signer
pins it: a frozen install verifies the signature against the recorded public key, with or without
rules, and refuses a package now signed by another key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nnparts.client.resolve.staging import Candidate
from nnparts.client.trust.keys import TrustedKey, key_from_pem, load_public_key
from nnparts.client.trust.verify import verify_signature
from nnparts.schemas.errors import TrustError, UsageError
from nnparts.schemas.signature import Signer, claimed_fingerprint, short_fingerprint

TRUST_FILE = "trust.toml"
_RULE_FIELDS = {"keys", "registry", "namespace"}


@dataclass(frozen=True)
class TrustRule:
    """Packages matching ``registry`` and ``namespace`` (None: any) must be signed by one of ``keys``."""

    keys: tuple[TrustedKey, ...]
    registry: str | None = None
    namespace: str | None = None
    source: str = "--trust"

    def matches(self, c: Candidate) -> bool:
        if self.registry is not None and _norm(self.registry) not in (
            _norm(c.registry),
            _norm(c.registry_url),
        ):
            return False
        return self.namespace is None or c.module_id.split("/", 1)[0] == self.namespace


@dataclass(frozen=True)
class TrustPolicy:
    """A :class:`~nnparts.client.resolve.staging.PackageGate` over ``rules``."""

    rules: tuple[TrustRule, ...] = ()

    def covers(self, candidate: Candidate) -> bool:
        return candidate.pinned is not None or any(r.matches(candidate) for r in self.rules)

    def __call__(self, candidate: Candidate) -> Signer | None:
        rules = [r for r in self.rules if r.matches(candidate)]
        pinned = candidate.pinned
        if not rules and pinned is None:
            return None
        allowed: dict[str, TrustedKey] | None = None
        for rule in rules:
            mine = {k.fingerprint: k for k in rule.keys}
            allowed = mine if allowed is None else {f: k for f, k in allowed.items() if f in mine}
        if pinned is not None:
            allowed = _pin(candidate, pinned, allowed)
        if not allowed:
            sources = "; ".join(r.source for r in rules)
            raise TrustError(
                f"no key is trusted by every rule that matches {candidate.ref} ({sources})",
                ref=candidate.ref,
                hint=f"list one key in each of these rules, in {TRUST_FILE} or with --trust",
            )
        return verify_signature(
            candidate.folder, candidate.signature, list(allowed.values()), ref=candidate.ref
        )


def _pin(c: Candidate, pinned: Signer, allowed: dict[str, TrustedKey] | None) -> dict[str, TrustedKey]:
    """Narrow ``allowed`` to the signer the lock recorded (whose key the lock carries)."""
    key = key_from_pem(pinned.public_key.encode(), source="the lock")
    if key.fingerprint != pinned.fingerprint:
        raise TrustError(
            f"the lock's signer of {c.ref} has fingerprint {short_fingerprint(pinned.fingerprint)} "
            f"but its public key has {key.short}",
            ref=c.ref,
            hint="the lockfile was edited; re-create it with `nnparts install ... --trust KEY.pem`",
        )
    if allowed is not None and key.fingerprint not in allowed:
        raise TrustError(
            f"the lock pins {c.ref} to signer {key.short}, which the trust rules do not accept",
            ref=c.ref,
            hint="trust that key too (--trust), or re-lock with `nnparts install` under the current rules",
        )
    claimed = claimed_fingerprint(c.signature.read_bytes()) if c.signature is not None else None
    if claimed is not None and claimed != key.fingerprint:
        raise TrustError(
            f"{c.ref} is now signed by key {short_fingerprint(claimed)}, the lock pins {key.short}",
            ref=c.ref,
            hint="re-run install without --frozen to accept the new signer",
        )
    return {key.fingerprint: allowed[key.fingerprint] if allowed else key}


def load_policy(home: Path, trust: Sequence[str | Path] = ()) -> TrustPolicy:
    """The rules of ``home/trust.toml`` (when present) plus one rule for the ``--trust`` keys.

    Raises:
        UsageError: trust.toml is malformed (the message names the rule and the field).
        FileMissing: a key file does not exist.
    """
    rules = list(_file_rules(home / TRUST_FILE))
    if trust:
        rules.append(TrustRule(tuple(load_public_key(p) for p in trust)))
    return TrustPolicy(tuple(rules))


def _file_rules(path: Path) -> list[TrustRule]:
    if not path.is_file():
        return []
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML ({exc})", hint="see `nnparts install --help`") from exc
    unknown = set(doc) - {"rule"}
    rows = doc.get("rule", [])
    if unknown or not isinstance(rows, list):
        raise UsageError(f"{path}: expected only [[rule]] tables, got {sorted(unknown) or 'rule'}")
    rules = []
    for i, row in enumerate(rows, 1):
        where = f"{path} rule {i}"
        if not isinstance(row, dict) or set(row) - _RULE_FIELDS:
            extra = sorted(set(row) - _RULE_FIELDS) if isinstance(row, dict) else row
            raise UsageError(f"{where}: unknown fields {extra}", hint=f"use {sorted(_RULE_FIELDS)}")
        keys = row.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise UsageError(f"{where}: keys must be a non-empty list of PEM public key files")
        for field in ("registry", "namespace"):
            if field in row and not (isinstance(row[field], str) and row[field]):
                raise UsageError(f"{where}: {field} must be a non-empty string")
        loaded = tuple(load_public_key(path.parent / k) for k in keys)
        rules.append(TrustRule(loaded, row.get("registry"), row.get("namespace"), source=where))
    return rules


def _norm(text: str) -> str:
    return text.rstrip("/")
