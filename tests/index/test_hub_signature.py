"""A signature travels with its package through a Hub registry (``nnparts serve``): publish, fetch,
``show``, the module page, and a trusted install from it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from trust_keys import assert_refused, cli, make_key

from nnparts.client.resolve import install
from nnparts.client.trust import load_policy, sign_package
from nnparts.index._hub_layout import Location
from nnparts.index.hub import HubIndex
from nnparts.schemas.signature import SIGNATURE_NAME, claimed_fingerprint

pytestmark = [
    pytest.mark.network,
    # huggingface_hub 2.4.0 PUTs LFS blobs with httpx2's deprecated ``data=`` (not ours to fix).
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def test_signature_round_trip_through_a_hub_registry(
    hub_url: str, hub_env: Path, make_package: Callable[..., Path], tmp_path: Path
) -> None:
    alice, bob = make_key(tmp_path / "keys", "alice"), make_key(tmp_path / "keys", "bob")
    ns = hub_url.split("#", 1)[1]  # the registry catalogues only module ids in their namespace
    package = make_package(module_id=f"{ns}/cat", classes=[("cat", ["kitty"])])
    signer = sign_package(package, alice.private)
    hub = HubIndex(hub_url, cache_dir=tmp_path / "cache")
    entry = hub.publish(package)
    unsigned = hub.publish(make_package(module_id=f"{ns}/dog", classes=[("dog", [])], seed=3))

    reader = HubIndex(hub_url, cache_dir=tmp_path / "reader")
    assert claimed_fingerprint(reader.signature(entry)) == signer.fingerprint
    assert reader.signature(unsigned) is None
    fetched = reader.fetch(entry, tmp_path / "fetched")
    assert (fetched / SIGNATURE_NAME).read_bytes() == (package / SIGNATURE_NAME).read_bytes()

    shown = cli("show", f"{ns}/cat", "--registry", hub_url).stdout
    assert f"signed by key {signer.fingerprint}" in shown
    assert "signature  unsigned" in cli("show", f"{ns}/dog", "--registry", hub_url).stdout

    where = Location.parse(entry.location, ref=entry.ref)
    endpoint = hub_url.split("#", 1)[0]
    with urllib.request.urlopen(f"{endpoint}/m/{where.repo_id}/{where.folder}") as page:
        text = page.read().decode()
    assert 'id="signature"' in text and signer.fingerprint in text

    result = install(["cat"], [reader], gate=load_policy(hub_env, [alice.public]))
    (locked,) = result.lock.modules
    assert locked.signer == signer
    refused = cli("install", "cat", "--registry", hub_url, "--trust", bob.public, "--lock", tmp_path / "l")
    assert_refused(refused, f"{ns}/cat@1.0.0", "not trusted")
