"""Three-way merge of flat trees, as a pull request is merged into its base branch.

``base`` is the tree the pull request started from, ``ours`` the base branch now, ``theirs`` the
pull request's head. Every path the pull request changed (added, modified or deleted) is taken from
``theirs``; a path that both sides changed differently is a conflict, and so is a file that the
merge would leave both as a file and as a folder. Cost: O(files of the three trees).
"""

from __future__ import annotations

from collections.abc import Mapping

from nnparts.registry.records import FileEntry

Tree = Mapping[str, FileEntry]


def _same(a: FileEntry | None, b: FileEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.sha256, a.lfs) == (b.sha256, b.lfs)


def conflicts(base: Tree, ours: Tree, theirs: Tree) -> list[str]:
    """The paths that cannot be merged, sorted."""
    return merge(base, ours, theirs)[1]


def merge(base: Tree, ours: Tree, theirs: Tree) -> tuple[dict[str, FileEntry], list[str]]:
    """The merged tree and the conflicting paths (the tree is meaningless if there are any)."""
    result = dict(ours)
    clashes: list[str] = []
    for path in base.keys() | theirs.keys():
        mine, yours, old = ours.get(path), theirs.get(path), base.get(path)
        if _same(old, yours):
            continue  # the pull request did not touch it
        if not _same(mine, old) and not _same(mine, yours):
            clashes.append(path)
        elif yours is None:
            result.pop(path, None)
        else:
            result[path] = yours
    folders = {p[:i] for p in result for i, c in enumerate(p) if c == "/"}
    clashes += [p for p in result if p in folders]
    return result, sorted(set(clashes))
