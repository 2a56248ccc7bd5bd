"""Pull requests (``refs/pr/N``) and discussions with the real huggingface_hub client: another
tenant proposes a better module, the owner merges it; conflicts, permissions, private repos."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_package import manifest_doc
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from web_registry import ThreadedServer, token_server

from nnparts.schemas.integrity import pretty_json

pytestmark = [
    pytest.mark.network,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
TOKENS = {
    "tokens": [
        {"token": "alice-token", "user": "alice", "scopes": {"alice": "write"}},
        {"token": "bob-token", "user": "bob", "scopes": {"bob": "write"}},
        {"token": "carol-token", "user": "carol", "scopes": {"carol": "write"}},
    ]
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    srv = token_server(tmp_path, TOKENS, lfs_threshold_bytes=100)
    yield srv
    srv.stop()


def manifest(accuracy: float) -> bytes:
    return pretty_json(manifest_doc(module_id="alice/cat", classes=(("cat", ()),), accuracy=accuracy))


def status_of(err: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    return err.value.response.status_code


def test_a_contributor_proposes_and_the_owner_merges(server: ThreadedServer, tmp_path: Path) -> None:
    alice, bob = (
        HfApi(endpoint=server.endpoint, token="alice-token"),
        HfApi(endpoint=server.endpoint, token="bob-token"),
    )
    alice.create_repo("alice/mods")
    first = alice.create_commit(
        "alice/mods", operations=[CommitOperationAdd("cat/manifest.json", manifest(0.9))], commit_message="v1"
    )
    weights = os.urandom(3000)
    proposal = bob.create_commit(
        "alice/mods",
        operations=[
            CommitOperationAdd("cat/manifest.json", manifest(0.95)),
            CommitOperationAdd("cat/w.bin", weights),
        ],
        commit_message="A better cat module",
        commit_description="+5 points",
        create_pr=True,
    )
    assert proposal.pr_num == 1 and proposal.pr_revision == "refs/pr/1"
    assert proposal.pr_url == f"{server.endpoint}/alice/mods/discussions/1"
    assert alice.model_info("alice/mods").sha == first.oid  # main is untouched
    got = hf_hub_download(
        "alice/mods",
        "cat/w.bin",
        revision="refs/pr/1",
        endpoint=server.endpoint,
        token=False,
        cache_dir=tmp_path,
    )
    assert Path(got).read_bytes() == weights
    bob.upload_file(
        path_or_fileobj=b"notes", path_in_repo="cat/NOTES.txt", repo_id="alice/mods", revision="refs/pr/1"
    )
    carol = HfApi(endpoint=server.endpoint, token="carol-token")
    with pytest.raises(HfHubHTTPError) as err:
        carol.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/mods", revision="refs/pr/1"
        )
    assert status_of(err) == 403

    [listed] = list(alice.get_repo_discussions("alice/mods"))
    assert (listed.num, listed.author, listed.status, listed.is_pull_request) == (1, "bob", "open", True)
    pr = alice.get_discussion_details("alice/mods", 1)
    assert pr.target_branch == "refs/heads/main" and pr.conflicting_files == []
    assert [e.type for e in pr.events] == ["comment", "commit", "commit"]
    assert pr.events[0].content == "+5 points"
    refs = alice.list_repo_refs("alice/mods", include_pull_requests=True)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"]

    with pytest.raises(HfHubHTTPError) as err:
        bob.merge_pull_request("alice/mods", 1)
    assert status_of(err) == 403
    bob.comment_discussion("alice/mods", 1, "ready")
    alice.merge_pull_request("alice/mods", 1, comment="thanks")
    merged = alice.get_discussion_details("alice/mods", 1)
    assert merged.status == "merged" and merged.merge_commit_oid == alice.model_info("alice/mods").sha
    assert sorted(alice.list_repo_files("alice/mods")) == [
        ".gitattributes",
        "cat/NOTES.txt",
        "cat/manifest.json",
        "cat/w.bin",
    ]
    page = server.get("/modules/alice/cat")
    assert page.status == 200 and "95.0%" in page.text  # the catalogue follows the merge
    with pytest.raises(HfHubHTTPError) as err:
        bob.upload_file(
            path_or_fileobj=b"late", path_in_repo="late.txt", repo_id="alice/mods", revision="refs/pr/1"
        )
    assert status_of(err) == 400


def test_conflicts_status_and_discussions(server: ThreadedServer) -> None:
    alice, bob = (
        HfApi(endpoint=server.endpoint, token="alice-token"),
        HfApi(endpoint=server.endpoint, token="bob-token"),
    )
    alice.create_repo("alice/c")
    alice.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id="alice/c")
    bob.upload_file(path_or_fileobj=b"bob's", path_in_repo="a.txt", repo_id="alice/c", create_pr=True)
    bob.upload_file(path_or_fileobj=b"other", path_in_repo="b.txt", repo_id="alice/c", create_pr=True)
    alice.upload_file(path_or_fileobj=b"alice's", path_in_repo="a.txt", repo_id="alice/c")
    assert alice.get_discussion_details("alice/c", 1).conflicting_files == ["a.txt"]
    with pytest.raises(HfHubHTTPError) as err:
        alice.merge_pull_request("alice/c", 1)
    assert status_of(err) == 409 and err.value.response.headers["X-Error-Code"] == "MergeConflict"
    alice.merge_pull_request("alice/c", 2)  # no overlap with main's changes
    assert alice.list_repo_files("alice/c") == [".gitattributes", "a.txt", "b.txt"]

    bob.change_discussion_status("alice/c", 1, "closed", comment="superseded")
    assert alice.get_discussion_details("alice/c", 1).status == "closed"
    carol = HfApi(endpoint=server.endpoint, token="carol-token")
    with pytest.raises(HfHubHTTPError) as err:
        carol.change_discussion_status("alice/c", 1, "open")
    assert status_of(err) == 403
    alice.change_discussion_status("alice/c", 1, "open")
    alice.rename_discussion("alice/c", 1, "Rewrite a.txt")
    talk = carol.create_discussion("alice/c", "Question about b.txt", description="why?")
    assert talk.num == 3 and not talk.is_pull_request
    assert [d.num for d in alice.get_repo_discussions("alice/c", discussion_type="pull_request")] == [2, 1]
    assert [d.num for d in alice.get_repo_discussions("alice/c", discussion_status="open")] == [3, 1]


def test_private_repos_and_anonymous_callers(server: ThreadedServer) -> None:
    alice = HfApi(endpoint=server.endpoint, token="alice-token")
    alice.create_repo("alice/secret", private=True)
    alice.create_pull_request("alice/secret", "own idea")
    bob = HfApi(endpoint=server.endpoint, token="bob-token")
    with pytest.raises(RepositoryNotFoundError):
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/secret", create_pr=True)
    with pytest.raises(RepositoryNotFoundError):
        list(bob.get_repo_discussions("alice/secret"))
    alice.create_repo("alice/open")
    anonymous = HfApi(endpoint=server.endpoint, token=False)
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/open", create_pr=True
        )
    assert status_of(err) == 401
    assert list(anonymous.get_repo_discussions("alice/open")) == []


def test_history_rewrites_keep_open_pull_requests_mergeable(server: ThreadedServer) -> None:
    alice, bob = (
        HfApi(endpoint=server.endpoint, token="alice-token"),
        HfApi(endpoint=server.endpoint, token="bob-token"),
    )
    alice.create_repo("alice/rw")
    alice.upload_file(path_or_fileobj=os.urandom(500), path_in_repo="old.bin", repo_id="alice/rw")
    bob.upload_file(path_or_fileobj=b"proposal", path_in_repo="p.txt", repo_id="alice/rw", create_pr=True)
    alice.upload_file(path_or_fileobj=b"more", path_in_repo="m.txt", repo_id="alice/rw")
    alice.super_squash_history("alice/rw")
    [old] = [f for f in alice.list_lfs_files("alice/rw") if f.filename == "old.bin"]
    alice.permanently_delete_lfs_files("alice/rw", [old])
    assert alice.get_discussion_details("alice/rw", 1).conflicting_files == []
    alice.merge_pull_request("alice/rw", 1)
    assert alice.list_repo_files("alice/rw") == [".gitattributes", "m.txt", "p.txt"]
