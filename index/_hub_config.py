"""Where a Hub registry lives and which credentials and cache belong to it. Pure: no network.

A Hub registry is named by its endpoint URL plus an optional ``#namespace`` fragment (the fragment
never travels on the wire)::

    https://huggingface.co#my-org          repos my-org/nnparts-index, my-org/<origin> ...
    http://127.0.0.1:8080                  namespace "nnparts"

Each endpoint gets its own token and its own download cache, because ``huggingface_hub`` would
otherwise send the global HF token to any endpoint and share one cache folder between endpoints that
hold a repo of the same name. A token is looked up, first match wins, in:

1. the ``token=`` argument;
2. the environment variable ``NNPARTS_TOKEN_<HOST>_<PORT>`` (host and port upper-cased, every other
   character ``_``; e.g. ``NNPARTS_TOKEN_127_0_0_1_8080``, ``NNPARTS_TOKEN_HUGGINGFACE_CO``);
3. ``$NNPARTS_HOME/tokens.json``: ``{"<endpoint URL>": "<token>", ...}``.

Without one, huggingface.co gets the client's own login (``HF_TOKEN`` / the HF token file) and every
other endpoint gets no token at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nnparts.schemas.errors import UsageError

DEFAULT_NAMESPACE = "nnparts"
TOKEN_ENV_PREFIX = "NNPARTS_TOKEN_"
TOKENS_FILE = "tokens.json"
CACHE_FOLDER = "hub-cache"
HF_HOSTS = ("huggingface.co", "hf.co")
_NAMESPACE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class HubEndpoint:
    """A normalised endpoint: ``url`` is ``scheme://host[:port][/prefix]`` without a trailing slash."""

    url: str
    host: str
    port: int | None
    namespace: str = DEFAULT_NAMESPACE

    @property
    def is_huggingface(self) -> bool:
        """True for huggingface.co (and hf.co) over https: the only hosts that may see an HF login."""
        return self.url.startswith("https://") and any(
            self.host == h or self.host.endswith("." + h) for h in HF_HOSTS
        )

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def token_env(self) -> str:
        """The environment variable holding this endpoint's token."""
        return TOKEN_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", self.host_port.upper())

    @property
    def slug(self) -> str:
        """A folder name unique to the URL (scheme, host, port and path prefix)."""
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.url.split("://", 1)[1]).strip("_") or "endpoint"

    @property
    def registry_url(self) -> str:
        """The URL a lockfile records: the endpoint, plus ``#namespace`` unless it is the default."""
        return self.url if self.namespace == DEFAULT_NAMESPACE else f"{self.url}#{self.namespace}"


def parse_endpoint(spec: str, namespace: str | None = None) -> HubEndpoint:
    """Parse ``http(s)://host[:port][/prefix][#namespace]``; an explicit ``namespace`` wins.

    Raises:
        UsageError: not an http(s) URL, no host, a query string, or an invalid namespace.
    """
    parts = urlsplit(spec.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a Hub URL: {spec!r}", hint="use http(s)://HOST[:PORT][#NAMESPACE]")
    if parts.query or parts.username or parts.password:
        raise UsageError(
            f"Hub URL {spec!r} carries a query or credentials",
            hint="pass the token through NNPARTS_TOKEN_<HOST>_<PORT> or tokens.json",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"bad port in Hub URL {spec!r}") from exc
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    ns = namespace or parts.fragment or DEFAULT_NAMESPACE
    if not _NAMESPACE.match(ns):
        raise UsageError(f"invalid Hub namespace {ns!r}", hint="letters, digits, '.', '_' and '-'")
    return HubEndpoint(f"{scheme}://{netloc}{parts.path.rstrip('/')}", host, port, ns)


def resolve_token(
    endpoint: HubEndpoint, explicit: str | None, *, home: Path, environ: Mapping[str, str]
) -> str | None:
    """The nnparts token configured for ``endpoint`` (see the module docstring), or None.

    Raises:
        UsageError: ``tokens.json`` exists but is not a JSON object of strings.
    """
    if explicit:
        return explicit
    from_env = environ.get(endpoint.token_env, "").strip()
    if from_env:
        return from_env
    return _token_from_file(endpoint, home / TOKENS_FILE)


def _token_from_file(endpoint: HubEndpoint, path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint='expected {"<endpoint URL>": "<token>"}') from exc
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise UsageError(f"{path} is not a JSON object of strings", hint='{"<endpoint URL>": "<token>"}')
    for key, token in doc.items():
        try:
            same = parse_endpoint(str(key)).url == endpoint.url
        except UsageError:
            continue
        if same and str(token).strip():
            return str(token).strip()
    return None


def default_cache_dir(endpoint: HubEndpoint, home: Path) -> Path:
    """``<home>/hub-cache/<endpoint slug>``: one download cache per endpoint."""
    return home / CACHE_FOLDER / endpoint.slug
