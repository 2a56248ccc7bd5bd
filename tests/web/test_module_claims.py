"""Who may publish a module id (its namespace), and what a module page shows of ``requires``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_package import manifest_doc
from huggingface_hub import CommitOperationAdd, HfApi
from web_registry import ThreadedServer, token_server

from nnparts.registry.web_requires import requirements
from nnparts.schemas.errors import NnpartsError
from nnparts.schemas.integrity import pretty_json
from nnparts.schemas.validate import validate

pytestmark = pytest.mark.network
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write"}},
    ]
}
TRUNK_SHA = hashlib.sha256(b"trunk manifest").hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = token_server(tmp_path, TOKENS)
    yield srv
    srv.stop()


def publish(srv: ThreadedServer, token: str, repo: str, files: dict[str, bytes]) -> None:
    api = HfApi(endpoint=srv.endpoint, token=token)
    api.create_repo(repo, exist_ok=True)
    api.create_commit(
        repo, operations=[CommitOperationAdd(p, b) for p, b in files.items()], commit_message="publish"
    )


def test_a_module_id_is_catalogued_only_from_its_own_namespace(server: ThreadedServer) -> None:
    alice_cat = pretty_json(manifest_doc(module_id="alice/catmod", classes=(("cat", ()),)))
    squat = pretty_json(manifest_doc(module_id="alice/catmod", version="9.9.9", classes=(("cat", ()),)))
    bare = pretty_json(manifest_doc(module_id="catmod", classes=(("cat", ()),)))
    publish(server, "alice-token", "alice/mods", {"cat/manifest.json": alice_cat})
    publish(server, "bob-token", "bob/pub", {"a/manifest.json": squat, "b/manifest.json": bare})
    page = server.get("/modules/alice/catmod")
    assert page.status == 200
    assert re.search(r'id="module-version">1\.0\.0<', page.text), "alice's own version is shown"
    assert "9.9.9" not in page.text and "bob/pub" not in page.text
    assert server.get("/modules/alice/catmod?version=9.9.9").status == 404
    assert server.get("/modules/catmod").status == 404  # an id without a namespace has no owner
    assert server.get("/m/bob/pub/a").status == 404
    assert "catmod" not in server.get("/search?q=cat").text.replace("alice/catmod", "")


def test_module_page_links_the_trunk_it_requires(server: ThreadedServer) -> None:
    doc = manifest_doc(module_id="alice/catmod", classes=(("cat", ()),))
    doc["requires"] = [
        {"id": "alice/trunk", "version": "1.2.0", "manifest_sha256": TRUNK_SHA, "kind": "trunk"}
    ]
    publish(server, "alice-token", "alice/mods", {"cat/manifest.json": pretty_json(doc)})
    page = server.get("/modules/alice/catmod")
    assert page.status == 200
    section = re.search(r'<ul id="requires">(.*?)</ul>', page.text, re.S)
    assert section is not None
    links = re.findall(r'<a class="requirement" href="([^"]+)">([^<]+)</a>', section[1])
    assert links == [("/modules/alice/trunk?version=1.2.0", "alice/trunk@1.2.0")]
    assert TRUNK_SHA[:12] in section[1] and ">trunk<" in section[1]


def test_module_page_without_requires_has_no_section(server: ThreadedServer) -> None:
    doc = manifest_doc(module_id="alice/plain", classes=(("dog", ()),))
    doc.pop("requires", None)
    publish(server, "alice-token", "alice/mods", {"dog/manifest.json": pretty_json(doc)})
    page = server.get("/modules/alice/plain")
    assert page.status == 200 and 'id="requires"' not in page.text


def test_trunk_manifest_page(server: ThreadedServer) -> None:
    doc = manifest_doc(module_id="alice/trunk", version="1.2.0", classes=(("cat", ()),))
    doc["kind"] = "trunk"
    try:
        validate(doc, "manifest")
    except NnpartsError:
        pytest.skip("this checkout's manifest schema does not know kind 'trunk' yet")
    publish(server, "alice-token", "alice/mods", {"trunk/manifest.json": pretty_json(doc)})
    page = server.get("/modules/alice/trunk?version=1.2.0")
    assert page.status == 200
    assert 'id="trunk-note"' in page.text and "shared trunk" in page.text


@pytest.mark.parametrize("raw", [None, "not a list", [5, "junk", {"id": 5, "version": None}, {"id": "a/b"}]])
def test_malformed_requires_are_left_out(raw: object) -> None:
    assert requirements({"requires": raw}) == ()


def test_requirements_keep_well_formed_entries() -> None:
    (only,) = requirements(
        {"requires": [{"id": "a/t", "version": "1.0.0", "manifest_sha256": "zz", "kind": 3}]}
    )
    assert (only.id, only.version, only.short_sha, only.kind) == ("a/t", "1.0.0", "", "")
    assert only.url == "/modules/a/t?version=1.0.0"
