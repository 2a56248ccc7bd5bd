"""``update_repo_settings`` and ``auth_check`` with the real huggingface_hub client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_package import manifest_doc
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from web_registry import ThreadedServer, token_server

from nnparts.schemas.integrity import pretty_json

pytestmark = pytest.mark.network
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write"}},
    ]
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = token_server(tmp_path, TOKENS)
    yield srv
    srv.stop()


def test_update_repo_settings_toggles_visibility(server: ThreadedServer) -> None:
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    anyone = HfApi(endpoint=server.endpoint, token=False)
    alice.create_repo("alice/mods")
    doc = pretty_json(manifest_doc(module_id="alice/cat", classes=(("cat", ()),)))
    alice.create_commit(
        "alice/mods", operations=[CommitOperationAdd("cat/manifest.json", doc)], commit_message="m"
    )
    assert anyone.repo_exists("alice/mods") and server.get("/modules/alice/cat").status == 200
    alice.update_repo_settings("alice/mods", private=True)
    assert alice.model_info("alice/mods").private is True
    assert not anyone.repo_exists("alice/mods")
    assert server.get("/modules/alice/cat").status == 404  # the catalogue follows
    alice.update_repo_settings("alice/mods", private=False)
    assert anyone.repo_exists("alice/mods") and server.get("/modules/alice/cat").status == 200
    with pytest.raises(HfHubHTTPError) as err:
        alice.update_repo_settings("alice/mods", gated="auto")
    assert err.value.response.status_code == 400
    bob = HfApi(endpoint=server.endpoint, token="bob-token")
    with pytest.raises(HfHubHTTPError) as err:
        bob.update_repo_settings("alice/mods", private=True)
    assert err.value.response.status_code == 403


def test_auth_check(server: ThreadedServer) -> None:
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/secret", private=True)
    alice.auth_check("alice/secret")
    alice.auth_check("alice/secret", write=True)
    bob = HfApi(endpoint=server.endpoint, token="bob-token")
    with pytest.raises(RepositoryNotFoundError):
        bob.auth_check("alice/secret")
    alice.create_repo("alice/open")
    bob.auth_check("alice/open")
    with pytest.raises(HfHubHTTPError) as err:
        bob.auth_check("alice/open", write=True)
    assert err.value.response.status_code == 403
