"""HubIndex against a real ``nnparts serve`` process, through the real huggingface_hub client.

Every test works in a namespace of its own (``<endpoint>#t-<hash>``) on one server per module; the
token test starts a second server with a tokens file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import huggingface_hub.constants as hf_constants
import pytest
import yaml
from fake_package import flip_byte, rewrite_manifest
from hub_server import HubServer
from huggingface_hub import HfApi

from nnparts.index import open_index
from nnparts.index._hub_config import parse_endpoint, resolve_token
from nnparts.index._hub_layout import Location, origin_repo_name, shard_path, to_yaml
from nnparts.index.hub import HubIndex
from nnparts.schemas.errors import AuthError, IntegrityError, RegistryError, RemoteError, UnknownClass
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.integrity import sha256_file
from nnparts.schemas.package import read_manifest, verify_package

MakePackage = Callable[..., Path]
NNPARTS = Path(sys.executable).parent / "nnparts"
OTHER_ORIGIN = "vgg-fashion"


def _hub(url: str, tmp_path: Path, label: str = "cache") -> HubIndex:
    """A HubIndex with a cache folder of its own (a fresh client)."""
    return HubIndex(url, cache_dir=tmp_path / label, clock=lambda: "2026-01-02T03:04:05Z")


def _other_origin(package: Path) -> Path:
    doc = json.loads((package / "manifest.json").read_bytes())
    rewrite_manifest(package, origin={**doc["origin"], "name": OTHER_ORIGIN, "dataset": "fashion-mnist"})
    return package


def _front_matter(text: str) -> dict[str, Any]:
    assert text.startswith("---\n")
    doc = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(doc, dict)
    return doc


def _publish_three(hub: HubIndex, make_package: MakePackage) -> list[IndexEntry]:
    cat = {"module_id": "zoo/cat", "classes": [("cat", ["kitty"])], "accuracy": 0.925}
    return [
        hub.publish(make_package(**cat)),
        hub.publish(make_package(**cat, version="1.1.0", seed=1)),
        hub.publish(_other_origin(make_package(module_id="zoo/ship", classes=[("ship", ["boat"])], seed=2))),
    ]


# -- pure parts -----------------------------------------------------------------------------------


def test_endpoints_tokens_and_caches(tmp_path: Path) -> None:
    local = parse_endpoint("http://127.0.0.1:8080/#team")
    assert (local.url, local.namespace, local.token_env) == (
        "http://127.0.0.1:8080",
        "team",
        "NNPARTS_TOKEN_127_0_0_1_8080",
    )
    assert not local.is_huggingface and parse_endpoint("https://huggingface.co").is_huggingface
    assert parse_endpoint("https://huggingface.co").token_env == "NNPARTS_TOKEN_HUGGINGFACE_CO"
    assert not parse_endpoint("https://huggingface.co.evil.example").is_huggingface
    (tmp_path / "tokens.json").write_text(json.dumps({"http://127.0.0.1:8080/": "from-file"}))
    env = {local.token_env: "from-env"}
    assert resolve_token(local, "explicit", home=tmp_path, environ=env) == "explicit"
    assert resolve_token(local, None, home=tmp_path, environ=env) == "from-env"
    assert resolve_token(local, None, home=tmp_path, environ={}) == "from-file"
    assert resolve_token(parse_endpoint("http://127.0.0.1:9"), None, home=tmp_path, environ=env) is None
    a = HubIndex("http://127.0.0.1:8080#team")
    b = HubIndex("http://127.0.0.1:8081#team")
    assert a.cache_dir != b.cache_dir and a.url == "http://127.0.0.1:8080#team"
    assert isinstance(open_index("http://127.0.0.1:8080"), HubIndex)


def test_layout_names_shards_locations_and_yaml() -> None:
    assert origin_repo_name("resnet20-cifar10") == "resnet20-cifar10"
    odd = origin_repo_name("ResNet 20/cifar..10")
    assert odd.startswith("ResNet-20-cifar.10-") and len(odd.rsplit("-", 1)[1]) == 8
    assert shard_path("Cat ") == shard_path("cAT") and shard_path("cat").startswith("classes/")
    good = Location.parse("ns/repo@" + "a" * 40 + "/modules/zoo/cat/1.0.0", ref="zoo/cat@1.0.0")
    assert (good.repo_id, good.folder) == ("ns/repo", "modules/zoo/cat/1.0.0")
    for bad in ("ns/repo@main/modules/x", "repo@" + "a" * 40 + "/modules/x", "ns/r@" + "a" * 40 + "/../x"):
        with pytest.raises(RegistryError, match="malformed Hub location"):
            Location.parse(bad, ref="x@1")
    doc = {"a": "x: y", "tags": ["class:cat", 'quote"d'], "n": [{"k": 1.5, "m": [{"z": True}]}], "e": []}
    assert yaml.safe_load("\n".join(to_yaml(doc))) == doc


def test_unreachable_endpoint_is_a_one_line_remote_error(tmp_path: Path, hub_env: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RemoteError, match=f"http://127.0.0.1:{port}") as info:
        _hub(f"http://127.0.0.1:{port}", tmp_path).list()
    assert "\n" not in str(info.value) and "server is running" in str(info.value)
    assert time.monotonic() - started < 10


# -- against a real server ------------------------------------------------------------------------


@pytest.mark.network
def test_publish_search_show_list_fetch(
    hub_url: str, hub_server: HubServer, make_package: MakePackage, tmp_path: Path
) -> None:
    hub = _hub(hub_url, tmp_path)
    assert hub.list() == []
    cat1, cat2, ship = _publish_three(hub, make_package)
    assert cat1.location.startswith(f"{hub.origin_repo('resnet20-cifar10')}@")
    assert ship.location.startswith(f"{hub.origin_repo(OTHER_ORIGIN)}@")

    reader = _hub(hub_url, tmp_path, "reader")  # a fresh client sees everything
    assert [e.ref for e in reader.search("KITTY")] == ["zoo/cat@1.0.0", "zoo/cat@1.1.0"]
    assert [e.ref for e in reader.search("Boat")] == ["zoo/ship@1.0.0"]
    assert [e.ref for e in reader.list()] == ["zoo/cat@1.0.0", "zoo/cat@1.1.0", "zoo/ship@1.0.0"]
    assert reader.get("zoo/cat") == cat2 and reader.get("zoo/cat", "1.0.0") == cat1
    assert reader.known_classes() == ["cat", "ship"]
    with pytest.raises(UnknownClass, match="did you mean: cat"):
        reader.search("catt")
    assert reader.manifest(cat1).id == "zoo/cat"

    dest = reader.fetch(ship, tmp_path / "fetched" / "ship")
    assert verify_package(dest).origin.name == OTHER_ORIGIN
    assert reader.fetch(ship, dest) == dest  # an intact copy is kept

    assert (
        hub.publish(make_package(module_id="zoo/cat", classes=[("cat", ["kitty"])], accuracy=0.925)) == cat1
    )
    with pytest.raises(RegistryError, match="already published"):
        hub.publish(make_package(module_id="zoo/cat", seed=7))

    api = HfApi(endpoint=hub_server.endpoint, token=False)
    repo = hub.origin_repo("resnet20-cifar10")
    files = set(api.list_repo_files(repo))
    assert {"README.md", "modules/zoo/cat/1.0.0/manifest.json", "modules/zoo/cat/1.1.0/README.md"} <= files
    card = _front_matter(Path(api.hf_hub_download(repo, "README.md", cache_dir=tmp_path / "c")).read_text())
    assert card["library_name"] == "nnparts"
    assert {
        "nnparts",
        "dnn-module",
        "class:cat",
        "class:kitty",
        "origin:resnet20-cifar10",
        "method:channel",
    } <= set(card["tags"])
    [result] = card["model-index"][0]["results"]
    assert {"type": "accuracy", "name": "accuracy", "value": 0.925} in result["metrics"]
    assert {m.id for m in api.list_models(filter="class:cat")} >= {repo}
    assert hub.origin_repo(OTHER_ORIGIN) not in {m.id for m in api.list_models(filter="class:cat")}


@pytest.mark.network
def test_yank_is_one_index_commit_seen_by_every_client(
    hub_url: str, make_package: MakePackage, tmp_path: Path
) -> None:
    hub = _hub(hub_url, tmp_path)
    _publish_three(hub, make_package)
    yanked = hub.yank("zoo/cat", reason="mislabelled")
    assert (yanked.ref, yanked.yanked, yanked.yank_reason) == ("zoo/cat@1.1.0", True, "mislabelled")
    assert hub.yank("zoo/cat", "1.1.0") == yanked  # again: nothing to commit
    reader = _hub(hub_url, tmp_path, "reader")
    assert [e.ref for e in reader.search("cat")] == ["zoo/cat@1.0.0"]
    assert [e.yanked for e in reader.search("kitty", include_yanked=True)] == [False, True]
    assert reader.get("zoo/cat").version == "1.0.0"
    assert [e.yank_reason for e in reader.list() if e.yanked] == ["mislabelled"]


@pytest.mark.network
def test_a_tampered_blob_is_refused_and_evicted_from_the_cache(
    hub_url: str, hub_server: HubServer, make_package: MakePackage, tmp_path: Path
) -> None:
    hub = _hub(hub_url, tmp_path)
    package = make_package(module_id="zoo/tamper", seed=11)
    entry = hub.publish(package)
    blob = hub_server.blob_file(sha256_file(package / "weights.safetensors"))
    flip_byte(blob)
    reader = _hub(hub_url, tmp_path, "reader")
    with pytest.raises(IntegrityError, match=r"weights\.safetensors"):
        reader.fetch(entry, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    flip_byte(blob)  # repaired on the server: the same client downloads again instead of its cache
    verify_package(reader.fetch(entry, tmp_path / "out"))


@pytest.mark.network
def test_a_search_downloads_only_its_shard(hub_url: str, make_package: MakePackage, tmp_path: Path) -> None:
    hub = _hub(hub_url, tmp_path)
    hub.publish(make_package(module_id="zoo/cat", classes=[("cat", ["kitty"])]))
    hub.publish(make_package(module_id="zoo/dog", classes=[("dog", [])], seed=3))
    reader = _hub(hub_url, tmp_path, "reader")
    assert [e.id for e in reader.search("Kitty")] == ["zoo/cat"]
    cached = sorted(
        p.relative_to(snapshot).as_posix()
        for snapshot in (reader.cache_dir).glob("datasets--*/snapshots/*")
        for p in snapshot.rglob("*")
        if p.is_file()
    )
    assert cached == [shard_path("kitty")]


@pytest.mark.network
def test_shared_weights_are_stored_once(
    hub_url: str, hub_server: HubServer, make_package: MakePackage, tmp_path: Path
) -> None:
    hub = _hub(hub_url, tmp_path)
    first = make_package(module_id="zoo/a", classes=[("cat", [])], seed=5)
    second = make_package(module_id="zoo/b", classes=[("dog", [])], seed=5)
    weights = sha256_file(first / "weights.safetensors")
    assert weights == sha256_file(second / "weights.safetensors")
    a, b = hub.publish(first), hub.publish(second)
    files = HfApi(endpoint=hub_server.endpoint, token=False).list_repo_files(
        hub.origin_repo("resnet20-cifar10")
    )
    assert [f for f in files if f.startswith("blobs/")] == sorted(
        {f"blobs/{f.sha256}" for f in read_manifest(first).files}
    )
    assert len(list(hub_server.root.glob(f"blobs/**/{weights}"))) == 1
    reader = _hub(hub_url, tmp_path, "reader")
    for entry, name in ((a, "a"), (b, "b")):
        verify_package(reader.fetch(entry, tmp_path / name))


N = 8


def _publish_one(url: str, package: Path, cache: Path, start: Event) -> None:
    start.wait(30)
    HubIndex(url, cache_dir=cache).publish(package)


@pytest.mark.network
@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_eight_concurrent_publishers_lose_nothing(
    hub_url: str, make_package: MakePackage, tmp_path: Path
) -> None:
    packages = [
        make_package(module_id=f"zoo/m{i}", classes=[(f"class{i}", [f"alias{i}"])], seed=i) for i in range(N)
    ]
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_publish_one, args=(hub_url, p, tmp_path / f"cache{i}", start))
        for i, p in enumerate(packages)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * N
    reader = _hub(hub_url, tmp_path, "reader")
    assert sorted(e.id for e in reader.list()) == sorted(f"zoo/m{i}" for i in range(N))
    for i in range(N):
        assert [e.id for e in reader.search(f"ALIAS{i}")] == [f"zoo/m{i}"]
    verify_package(reader.fetch(reader.get("zoo/m7"), tmp_path / "m7"))


@pytest.mark.network
def test_the_hf_token_never_reaches_a_foreign_endpoint(
    hub_env: Path, make_package: MakePackage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "server-tokens.json"
    scopes = {"*": "write"}
    rows = [
        {"token": "hf_secret", "user": "leak", "scopes": scopes},
        {"token": "np-writer", "user": "w", "scopes": scopes},
    ]
    tokens.write_text(json.dumps({"tokens": rows}))
    server = HubServer(tmp_path / "auth-root", "--tokens", str(tokens))
    try:
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", False)
        # the server would accept the global token: a plain client sends it and may write
        HfApi(endpoint=server.endpoint).create_repo("probe/repo")
        hub = _hub(server.endpoint, tmp_path)
        assert hf_constants.HF_HUB_DISABLE_XET is True
        assert hub.list() == []  # anonymous reads work
        env_name = parse_endpoint(server.endpoint).token_env
        with pytest.raises(AuthError, match=env_name) as info:
            hub.publish(make_package(module_id="zoo/cat"))
        assert "401" in str(info.value) and "\n" not in str(info.value)

        monkeypatch.setenv(env_name, "np-writer")
        assert (
            _hub(server.endpoint, tmp_path, "env").publish(make_package(module_id="zoo/cat")).id == "zoo/cat"
        )
        monkeypatch.delenv(env_name)
        hub_env.mkdir(parents=True, exist_ok=True)
        (hub_env / "tokens.json").write_text(json.dumps({server.endpoint: "np-writer"}))
        assert (
            _hub(server.endpoint, tmp_path, "file").publish(make_package(module_id="zoo/dog")).id == "zoo/dog"
        )
        (hub_env / "tokens.json").write_text(json.dumps({server.endpoint: "wrong"}))
        with pytest.raises(AuthError, match="refused the token"):
            _hub(server.endpoint, tmp_path, "wrong").publish(make_package(module_id="zoo/emu"))
    finally:
        server.stop()


@pytest.mark.network
def test_cli_verbs_against_the_hub(hub_url: str, make_package: MakePackage, tmp_path: Path) -> None:
    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        cmd = [str(NNPARTS), *map(str, args), "--registry", hub_url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ))

    published = cli("publish", make_package(module_id="zoo/cat", classes=[("cat", ["kitty"])]))
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith("published zoo/cat@1.0.0") and hub_url in published.stdout
    found = cli("search", "KITTY", "--json")
    assert found.returncode == 0, found.stderr
    assert [e["id"] for e in json.loads(found.stdout)] == ["zoo/cat"]
    listing = cli("list")
    assert listing.returncode == 0 and "zoo/cat" in listing.stdout
    shown = cli("show", "zoo/cat", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["manifest"]["id"] == "zoo/cat"
    yanked = cli("yank", "zoo/cat", "--reason", "bad")
    assert yanked.returncode == 0 and "bad" in yanked.stdout
    assert json.loads(cli("search", "cat", "--json", "--all").stdout)[0]["yanked"] is True
    missing = cli("search", "zebra")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "zebra" in missing.stderr
