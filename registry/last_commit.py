"""The last commit that changed each of some paths (``expand=True`` trees and paths-info).

Walks first parents from the given commit, comparing each commit's tree with its parent's for the
paths still open; a folder counts as changed when anything below it changed. Cost: one flat tree
read per commit walked, at most :data:`MAX_WALK` commits; paths unchanged over that many commits
are given the oldest commit walked (the repo's first commit in all but very long histories).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nnparts.registry.records import CommitRecord

MAX_WALK = 1000
Snapshot = dict[str, tuple[str, bool]]


def last_commits(
    head: CommitRecord,
    paths: Sequence[str],
    *,
    parent_of: Callable[[CommitRecord], CommitRecord | None],
    snapshot: Callable[[str], Snapshot],
) -> dict[str, CommitRecord]:
    """``path -> commit`` for every path of ``paths`` (files or folders)."""
    open_paths = set(paths)
    found: dict[str, CommitRecord] = {}
    commit: CommitRecord | None = head
    files = snapshot(head.tree_id)
    last = head
    for _ in range(MAX_WALK):
        if commit is None or not open_paths:
            break
        parent = parent_of(commit)
        before = snapshot(parent.tree_id) if parent is not None else {}
        if parent is None or parent.tree_id != commit.tree_id:
            changed = {p for p in files.keys() | before.keys() if files.get(p) != before.get(p)}
            touched = changed | {p[:i] for p in changed for i, c in enumerate(p) if c == "/"}
            for path in open_paths & touched:
                found[path] = commit
            open_paths -= touched
        last, commit, files = commit, parent, before
    for path in open_paths:
        found[path] = last
    return found
