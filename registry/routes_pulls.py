"""Discussions and pull requests: ``create_discussion``/``create_pull_request``,
``get_repo_discussions``, ``get_discussion_details``, ``comment_discussion``,
``rename_discussion``, ``change_discussion_status`` and ``merge_pull_request``.

Who may do what (a module registry's use: "here is a better cat module" from another tenant):
anyone who can read the repo, with a token, opens discussions and pull requests, comments, and
pushes to a pull request they opened; its author or a writer renames, closes and reopens it; only a
writer of the repo merges. A private repo's discussions are as hidden as the repo.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.responses import JSONResponse, Response

from nnparts.registry import errors
from nnparts.registry.bodies import read_json
from nnparts.registry.context import Call
from nnparts.registry.names import MAX_TITLE, pr_number
from nnparts.registry.query import MAX_INT, int_param
from nnparts.registry.records import PullEvent, PullQuery, PullRecord, RepoRecord
from nnparts.registry.router import API_REPO, Router

PAGE = 50
MAX_COMMENT = 65536
STATUS_FILTERS = {"all": None, "open": "open", "closed": "closed"}
KIND_FILTERS = {"all": None, "discussion": "discussion", "pull_request": "pull_request"}


def register(router: Router) -> None:
    base = API_REPO + r"/discussions"
    router.add("GET POST", base, discussions)
    router.add("GET", base + r"/(?P<num>[1-9][0-9]{0,8})", details)
    router.add("POST", base + r"/(?P<num>[1-9][0-9]{0,8})/comment", comment)
    router.add("POST", base + r"/(?P<num>[1-9][0-9]{0,8})/title", retitle)
    router.add("POST PATCH", base + r"/(?P<num>[1-9][0-9]{0,8})/status", status)
    router.add("POST", base + r"/(?P<num>[1-9][0-9]{0,8})/merge", merge)


async def push_access(call: Call, revision: str, *, create_pr: bool) -> RepoRecord:
    """The repo, if the caller may push to ``revision``: write scope for a branch; read access to
    open a pull request; for ``refs/pr/N`` the pull request's author or a writer."""
    num = pr_number(revision)
    if not create_pr and num is None:
        return await call.writable_repo()
    record = await call.contributable_repo()
    if num is not None and not call.may_write(record.key.namespace):
        pull = await call.run(call.hub.storage.pull, record.key, num)
        if pull.author != call.user:
            raise errors.Forbidden(
                f"only the author of #{num} or a writer of {record.key.id!r} may push to it"
            )
    return record


async def discussions(call: Call) -> Response:
    """GET lists (``p``, ``type``, ``status``, ``author``); POST opens one (``{"title",
    "description", "pullRequest"}``) and answers its ``num``."""
    if call.request.method == "POST":
        record = await call.contributable_repo()
        body = await read_json(call.request, call.hub.config.max_json_bytes)
        title, description = _text(body, "title", MAX_TITLE), _text(body, "description", MAX_COMMENT, "")
        if not title:
            raise errors.BadRequest("a discussion needs a title")
        pull = await call.run(
            call.hub.storage.open_pull,
            record.key,
            title=title,
            description=description,
            author=call.user,
            pull_request=body.get("pullRequest") is True,
        )
        return JSONResponse(_summary(call, record, pull))
    record = await call.readable_repo()
    qp = call.request.query_params
    kind, state = qp.get("type", "all"), qp.get("status", "all")
    if kind not in KIND_FILTERS or state not in STATUS_FILTERS:
        raise errors.BadRequest("type must be all/discussion/pull_request and status all/open/closed")
    page = int_param(call.request, "p", 0, maximum=MAX_INT // PAGE)
    query = PullQuery(
        status=STATUS_FILTERS[state],
        kind=KIND_FILTERS[kind],
        author=qp.get("author") or None,
        offset=page * PAGE,
        limit=PAGE,
    )
    pulls, total = await call.run(call.hub.storage.pulls, record.key, query)
    return JSONResponse(
        {"discussions": [_summary(call, record, p) for p in pulls], "count": total, "start": page * PAGE}
    )


async def details(call: Call) -> Response:
    """One discussion with its events; for a pull request ``changes.base``, ``mergeCommitId``
    and ``filesWithConflicts``."""
    record = await call.readable_repo()
    num = int(call.params["num"])
    storage = call.hub.storage
    pull = await call.run(storage.pull, record.key, num)
    events = await call.run(storage.pull_events, record.key, num)
    body = _summary(call, record, pull) | {"events": [_event(e) for e in events]}
    if pull.is_pull_request:
        changes: dict[str, Any] = {"base": f"refs/heads/{pull.base}"}
        if pull.merge_commit is not None:
            changes["mergeCommitId"] = pull.merge_commit
        body["changes"] = changes
        body["filesWithConflicts"] = await call.run(storage.pull_conflicts, record.key, pull)
    return await call.json(body)


async def comment(call: Call) -> Response:
    record = await call.contributable_repo()
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    text = _text(body, "comment", MAX_COMMENT)
    if not text:
        raise errors.BadRequest("the comment is empty")
    event = await call.run(
        call.hub.storage.comment_pull, record.key, int(call.params["num"]), author=call.user, text=text
    )
    return JSONResponse({"newMessage": _event(event)})


async def retitle(call: Call) -> Response:
    record, num = await _author_or_writer(call)
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    title = _text(body, "title", MAX_TITLE)
    if not title:
        raise errors.BadRequest("the title is empty")
    event = await call.run(call.hub.storage.retitle_pull, record.key, num, author=call.user, title=title)
    return JSONResponse({"newTitle": _event(event)})


async def status(call: Call) -> Response:
    """``{"status": "open"|"closed", "comment"?}``: the author or a writer."""
    record, num = await _author_or_writer(call)
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    new = body.get("status")
    if new not in ("open", "closed"):
        raise errors.BadRequest("status must be 'open' or 'closed'")
    event = await call.run(
        call.hub.storage.set_pull_status,
        record.key,
        num,
        "open" if new == "open" else "closed",
        author=call.user,
        comment=_text(body, "comment", MAX_COMMENT, ""),
    )
    return JSONResponse({"newStatus": _event(event)})


async def merge(call: Call) -> Response:
    """Merge a pull request into its base branch (writers only); 409 ``MergeConflict`` with the
    conflicting paths otherwise. The catalogue follows a merge into ``main``."""
    record = await call.writable_repo()
    body = await read_json(call.request, call.hub.config.max_json_bytes)
    branch, done = await call.run(
        call.hub.storage.merge_pull,
        record.key,
        int(call.params["num"]),
        author=call.user,
        comment=_text(body, "comment", MAX_COMMENT, ""),
    )
    for listener in call.hub.listeners:
        await call.run(listener.committed, record.key, branch, done)
    return JSONResponse({"mergeCommitId": done.sha})


async def _author_or_writer(call: Call) -> tuple[RepoRecord, int]:
    record = await call.contributable_repo()
    num = int(call.params["num"])
    if not call.may_write(record.key.namespace):
        pull = await call.run(call.hub.storage.pull, record.key, num)
        if pull.author != call.user:
            raise errors.Forbidden(
                f"only the author of #{num} or a writer of {record.key.id!r} may change it"
            )
    return record, num


def _text(body: dict[str, Any], name: str, limit: int, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str) or len(value) > limit:
        raise errors.BadRequest(f"{name!r} must be a string of at most {limit} characters")
    return value.strip()


def _summary(call: Call, record: RepoRecord, pull: PullRecord) -> dict[str, Any]:
    return {
        "num": pull.num,
        "title": pull.title,
        "status": pull.status,
        "createdAt": pull.created_at,
        "author": {"name": pull.author},
        "isPullRequest": pull.is_pull_request,
        "repo": {"name": record.key.id, "type": record.key.type},
        "url": f"{call.repo_url(record.key)}/discussions/{pull.num}",
    }


def _event(event: PullEvent) -> dict[str, Any]:
    data = dict(event.data)
    if event.type == "comment":
        latest = dict(data["latest"])
        latest["html"] = f"<p>{html.escape(latest['raw'])}</p>"
        data["latest"] = latest
    return {
        "id": event.id,
        "type": event.type,
        "createdAt": event.created_at,
        "author": {"name": event.author},
        "data": data,
    }
