"""Benchmark of ``nnparts serve`` (issue 5). Traffic goes only to 127.0.0.1; every phase is bounded.

Measures: pull throughput of a 100 MB file through ``hf_hub_download`` vs a plain file copy; search
latency (``/api/models`` search and tag filter, p50/p99) at 1k/10k/100k repos; publish rate
(``create_commit`` with ``parent_commit`` per second); a load test with 16 concurrent clients.
Prints a markdown table and writes ``bench/results/registry.json``.

The pull is timed against ``shutil.copyfile`` of the same file in the same run (the issue's target:
pull >= 50 % of the copy). To tell the server's share from the client's, the same loop also pulls
the same file with the same ``hf_hub_download`` from a bare HTTP responder (a thread answering
HEAD/GET with the required headers and ``os.sendfile``: no routing, no auth, no storage), and reads
it over a raw loopback socket into a file (``recv_into`` + ``write``, no HTTP parsing). The first is
the ceiling of any server for this client; ``pull / client ceiling`` is the registry's own
efficiency. The server's CPU seconds per pull are read from ``/proc`` (Linux).

nnparts' own download path for module files (:func:`nnparts.index._pinned_get.get_pinned`, used by
``nnparts install`` against any registry but huggingface.co) is timed in the same loop: one GET of the
same ``/resolve/`` URL from the same server, spliced into a temp file while a second thread hashes it,
size and sha256 checked against the pin before the rename. Its CPU (client threads + server) is read
too, and ``pinned_cpu_bound_ratio`` = cores x copy CPU / pull CPU is its bound on a machine where
nothing else runs (as for the Xet probe below). ``hf_hub_download`` stays the figure for third-party
clients. ``--pull`` runs only this section and keeps the other results.

``--xet-probe`` (also part of the full run) asks whether the Xet protocol could lift the pull to the
target before anyone builds it into the registry: the same ``hf_hub_download`` with hf_xet enabled
against a bare Xet responder (:class:`BareXetServer`: HEAD with ``X-Xet-Hash``, the read-token route,
``/v1/reconstructions/{hash}`` and xorb byte ranges by ``os.sendfile``), side by side with the copy.
It is the ceiling of any Xet server for this client, as the bare HTTP responder is for plain HTTP.

    .venv/bin/python bench/registry.py [--quick] [--pull] [--xet-probe]
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import http.client
import importlib.metadata
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ["HF_TOKEN"] = ""

from huggingface_hub import CommitOperationAdd, HfApi, constants, hf_hub_download

from nnparts.index._pinned_get import get_pinned
from nnparts.registry import FilesystemStorage
from nnparts.registry.storage import RepoImport, RepoKey

RESULTS = Path(__file__).parent / "results" / "registry.json"
MB = 1024 * 1024


class Server:
    def __init__(self, root: Path) -> None:
        cmd = [sys.executable, "-c", "from nnparts.client.cli import main; main()", "serve"]
        cmd += ["--root", str(root), "--port", "0", "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.endpoint = line.strip().split(" on ", 1)[1]
        self.port = urlparse(self.endpoint).port or 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class _Responder:
    """A loopback listener answering each connection in a thread with ``_serve`` (keep-alive)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                request, buf = buf.split(b"\r\n\r\n", 1)
                self._handle(conn, request)

    def _handle(self, conn: socket.socket, request: bytes) -> None:
        """Answer one request (its head, without the blank line; no request has a body here)."""
        raise NotImplementedError

    @staticmethod
    def _sendfile(conn: socket.socket, path: Path, start: int, length: int) -> None:
        with open(path, "rb") as fh:
            sent = 0
            while sent < length:
                sent += os.sendfile(conn.fileno(), fh.fileno(), start + sent, length - sent)

    def close(self) -> None:
        self.sock.close()


class BareServer(_Responder):
    """The ceiling for the client: HEAD/GET of one file over loopback with ``os.sendfile``, the
    headers ``hf_hub_download`` needs and nothing else (any path, keep-alive)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.size = path, path.stat().st_size
        self.start()

    def _handle(self, conn: socket.socket, request: bytes) -> None:
        conn.sendall(
            (
                f'HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\nETag: "{"0" * 64}"\r\n'
                f"X-Repo-Commit: {'0' * 40}\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        if request.startswith(b"GET"):
            self._sendfile(conn, self.path, 0, self.size)

    def raw_get(self, out: Path) -> None:
        """The file over a raw loopback socket into ``out``: no HTTP client at all."""
        with socket.create_connection(("127.0.0.1", self.port)) as conn, open(out, "wb") as fh:
            conn.sendall(b"GET /raw HTTP/1.1\r\nHost: bench\r\n\r\n")
            buf = bytearray(MB)
            view = memoryview(buf)
            n = conn.recv_into(buf)
            start = bytes(buf[:n]).index(b"\r\n\r\n") + 4
            fh.write(view[start:n])
            got = n - start
            while got < self.size:
                n = conn.recv_into(buf)
                if not n:
                    raise OSError("bare server closed early")
                fh.write(view[:n])
                got += n


class BareXetServer(_Responder):
    """The ceiling for the client's Xet path: one file as uncompressed xorbs, served over loopback.

    Xorb layout (xet-core ``xorb_object``): each chunk is an 8-byte header (version 0, 3-byte LE
    stored length, scheme 0 = none, 3-byte LE raw length) followed by the raw bytes; up to 1024
    chunks (64 MiB) per xorb. Chunks here are a fixed 64 KiB (the CDC target size): hf_xet checks
    only lengths on download (``get_file_term_data``), so boundaries and hashes do not change the
    client's cost, and the ids below are placeholders. The reconstruction lists one term and one
    fetch range per ``term_chunks`` chunks so the client can fetch in parallel; V2 answers 404 and
    the client falls back to V1, as it does against older CAS servers.
    """

    CHUNK = 64 * 1024

    def __init__(self, path: Path, xorb_dir: Path, *, term_chunks: int = 128) -> None:
        super().__init__()
        self.size = path.stat().st_size
        self.xorbs: dict[str, tuple[Path, list[int], list[int]]] = {}
        with open(path, "rb") as fh:
            while data := fh.read(1024 * self.CHUNK):
                xorb_id = f"{len(self.xorbs):064x}"
                offsets, lengths = [0], []
                with open(xorb_dir / xorb_id, "wb") as out:
                    for start in range(0, len(data), self.CHUNK):
                        chunk = data[start : start + self.CHUNK]
                        n = len(chunk).to_bytes(3, "little")
                        out.write(b"\0" + n + b"\0" + n + chunk)
                        lengths.append(len(chunk))
                        offsets.append(offsets[-1] + 8 + len(chunk))
                self.xorbs[xorb_id] = (xorb_dir / xorb_id, offsets, lengths)
        self.reconstruction = self._reconstruction(term_chunks)
        self.start()

    def _reconstruction(self, term_chunks: int) -> bytes:
        terms: list[dict[str, Any]] = []
        fetch: dict[str, list[dict[str, Any]]] = {}
        for xorb_id, (_, offsets, lengths) in self.xorbs.items():
            for s in range(0, len(lengths), term_chunks):
                e = min(len(lengths), s + term_chunks)
                chunks = {"start": s, "end": e}
                terms.append({"hash": xorb_id, "unpacked_length": sum(lengths[s:e]), "range": chunks})
                fetch.setdefault(xorb_id, []).append(
                    {
                        "range": chunks,
                        "url": f"{self.endpoint}/xorbs/{xorb_id}",
                        "url_range": {"start": offsets[s], "end": offsets[e] - 1},
                    }
                )
        return json.dumps({"offset_into_first_range": 0, "terms": terms, "fetch_info": fetch}).encode()

    def _answer(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[str, bytes, tuple[Path, int, int] | None]:
        """Status line and headers, a small body, or a (file, start, length) to sendfile."""
        if "/resolve/" in path and method == "HEAD":
            return (
                f'200 OK\r\nContent-Length: {self.size}\r\nETag: "{"0" * 64}"\r\n'
                f"X-Repo-Commit: {'0' * 40}\r\nX-Xet-Hash: {'ab' * 32}\r\n"
                f"X-Xet-Refresh-Route: {self.endpoint}/api/models/bench/xet/xet-read-token/main",
                b"",
                None,
            )
        if "/xet-read-token/" in path:
            return (
                f"200 OK\r\nX-Xet-Cas-Url: {self.endpoint}/cas\r\nX-Xet-Access-Token: bench\r\n"
                f"X-Xet-Token-Expiration: {int(time.time()) + 3600}\r\nContent-Length: 0",
                b"",
                None,
            )
        if path.startswith("/cas/v1/reconstructions/"):
            body = self.reconstruction
            return f"200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}", body, None
        if path.startswith("/xorbs/") and path[7:] in self.xorbs:
            xorb = self.xorbs[path[7:]][0]
            first, last = (int(v) for v in headers["range"].split("=", 1)[1].split("-"))
            total = xorb.stat().st_size
            return (
                f"206 Partial Content\r\nContent-Range: bytes {first}-{last}/{total}\r\n"
                f"Content-Length: {last - first + 1}",
                b"",
                (xorb, first, last - first + 1),
            )
        return "404 Not Found\r\nContent-Length: 0", b"", None

    def _handle(self, conn: socket.socket, request: bytes) -> None:
        lines = request.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        status, body, span = self._answer(method, path, headers)
        conn.sendall(f"HTTP/1.1 {status}\r\n\r\n".encode() + body)
        if span is not None:
            self._sendfile(conn, *span)


def bench_xet_probe(work: Path, size_mb: int, pulls: int = 5) -> dict[str, Any]:
    """``hf_hub_download`` through hf_xet from :class:`BareXetServer` vs ``shutil.copyfile``.

    hf_xet's disk chunk cache is off and its cache folder is ``work`` (no trace in ``HF_HOME``); each
    pull gets a fresh ``cache_dir``, so the hub's shared blob store never answers for the network.
    The first pull is compared byte for byte with the source. CPU is this process's (client and the
    responder thread, whose ``sendfile`` costs about 0.02 s per 100 MB), next to the copy's: the
    CPU ratio does not move with other load on the machine, the wall-clock ratio does (so the 1-minute
    load average before the probe is recorded too). ``cpu_bound_ratio`` = cores x copy CPU / pull CPU
    is what the pull would reach if it kept every core busy and nothing else ran (the copy is one
    CPU-bound ``sendfile``): an upper bound that holds on a shared machine.
    """
    data_file = work / "xet-weights.bin"
    with open(data_file, "wb") as fh:
        for _ in range(size_mb):
            fh.write(os.urandom(MB))
    (work / "xorbs").mkdir()
    bare = BareXetServer(data_file, work / "xorbs")
    os.environ["HF_XET_CHUNK_CACHE_SIZE_BYTES"] = "0"
    os.environ["HF_XET_CACHE"] = str(work / "xet-cache")
    disabled, constants.HF_HUB_DISABLE_XET = constants.HF_HUB_DISABLE_XET, False
    times, copies, cpus, copy_cpus = [], [], [], []
    load = os.getloadavg()[0]
    try:
        for i in range(pulls):
            cache = work / f"xet{i}"
            usage = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            path = hf_hub_download(
                "bench/xet", "weights.bin", endpoint=bare.endpoint, token=False, cache_dir=cache
            )
            times.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpus.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
            if i == 0 and not filecmp.cmp(path, data_file, shallow=False):
                raise AssertionError("the Xet download differs from the source file")
            shutil.rmtree(cache)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            shutil.copyfile(data_file, work / "copy.bin")
            copies.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_SELF)
            copy_cpus.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
            (work / "copy.bin").unlink()
    finally:
        constants.HF_HUB_DISABLE_XET = disabled
        bare.close()
    xet_mbs = size_mb / statistics.median(times)
    copy_mbs = size_mb / statistics.median(copies)
    cpu, copy_cpu = statistics.median(cpus), statistics.median(copy_cpus)
    return {
        "size_mb": size_mb,
        "hf_xet": importlib.metadata.version("hf_xet"),
        "xet_pull_mb_s": round(xet_mbs, 1),
        "copy_mb_s": round(copy_mbs, 1),
        "ratio": round(xet_mbs / copy_mbs, 3),
        "cpu_s_per_pull": round(cpu, 3),
        "copy_cpu_s": round(copy_cpu, 3),
        "cpu_bound_ratio": round((os.cpu_count() or 1) * copy_cpu / cpu, 3),
        "pull_s": round(statistics.median(times), 3),
        "pulls": pulls,
        "loadavg_1m_before": round(load, 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_pull(server: Server, root: Path, work: Path, size_mb: int, rounds: int = 3) -> dict[str, Any]:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("bench/pull")
    data_file = work / "weights.bin"
    with open(data_file, "wb") as fh:
        for _ in range(size_mb):
            fh.write(os.urandom(MB))
    api.upload_file(path_or_fileobj=str(data_file), path_in_repo="weights.bin", repo_id="bench/pull")
    sha256 = hashlib.sha256(data_file.read_bytes()).hexdigest()
    url = f"{server.endpoint}/bench/pull/resolve/main/weights.bin"
    bare = BareServer(data_file)
    pulls, copies, ceilings, raws, server_cpu = [], [], [], [], []
    pinned, pinned_cpu, copy_cpu = [], [], []
    load, ticks = os.getloadavg()[0], _cpu_ticks()
    try:
        for i in range(rounds):
            cache = work / f"cache{i}"
            cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
            path = hf_hub_download(
                "bench/pull", "weights.bin", endpoint=server.endpoint, token=False, cache_dir=cache
            )
            pulls.append(time.perf_counter() - t0)
            server_cpu.append(cpu_seconds(server.proc.pid) - cpu0)
            assert os.path.getsize(path) == size_mb * MB
            shutil.rmtree(cache)
            usage, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            shutil.copyfile(data_file, work / "copy.bin")
            copies.append(time.perf_counter() - t0)
            copy_cpu.append(_self_cpu(usage))
            (work / "copy.bin").unlink()
            usage, cpu0 = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(server.proc.pid)
            t0 = time.perf_counter()
            get_pinned(url, work / "pinned.bin", size=size_mb * MB, sha256=sha256)
            pinned.append(time.perf_counter() - t0)
            pinned_cpu.append(_self_cpu(usage) + cpu_seconds(server.proc.pid) - cpu0)
            if i == 0 and not filecmp.cmp(work / "pinned.bin", data_file, shallow=False):
                raise AssertionError("the pinned download differs from the source file")
            (work / "pinned.bin").unlink()
            t0 = time.perf_counter()
            path = hf_hub_download(
                "bench/pull", "weights.bin", endpoint=bare.endpoint, token=False, cache_dir=cache
            )
            ceilings.append(time.perf_counter() - t0)
            assert os.path.getsize(path) == size_mb * MB
            shutil.rmtree(cache)
            t0 = time.perf_counter()
            bare.raw_get(work / "raw.bin")
            raws.append(time.perf_counter() - t0)
            (work / "raw.bin").unlink()
    finally:
        bare.close()
    pull_mbs = size_mb / statistics.median(pulls)
    copy_mbs = size_mb / statistics.median(copies)
    ceiling_mbs = size_mb / statistics.median(ceilings)
    pinned_mbs = size_mb / statistics.median(pinned)
    return {
        "size_mb": size_mb,
        "pull_mb_s": round(pull_mbs, 1),
        "copy_mb_s": round(copy_mbs, 1),
        "ratio": round(pull_mbs / copy_mbs, 3),
        "client_ceiling_mb_s": round(ceiling_mbs, 1),
        "ceiling_ratio": round(ceiling_mbs / copy_mbs, 3),
        "pull_vs_ceiling": round(pull_mbs / ceiling_mbs, 3),
        "raw_socket_mb_s": round(size_mb / statistics.median(raws), 1),
        "server_cpu_s_per_pull": round(statistics.median(server_cpu), 3),
        "pull_s": round(statistics.median(pulls), 3),
        "pinned_pull_mb_s": round(pinned_mbs, 1),
        "pinned_ratio": round(pinned_mbs / copy_mbs, 3),
        "pinned_pull_s": round(statistics.median(pinned), 3),
        "pinned_cpu_s_per_pull": round(statistics.median(pinned_cpu), 3),
        "copy_cpu_s": round(statistics.median(copy_cpu), 3),
        "pinned_cpu_bound_ratio": round(
            (os.cpu_count() or 1) * statistics.median(copy_cpu) / statistics.median(pinned_cpu), 3
        ),
        "rounds": rounds,
        "loadavg_1m_before": round(load, 2),
        "idle_share_during": _idle_share(ticks),
    }


def _cpu_ticks() -> list[int]:
    """The machine's CPU time counters (Linux ``/proc/stat``: user nice system idle ...; [] elsewhere)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return []


def _idle_share(before: list[int]) -> float | None:
    """Share of all cores' time that was idle since ``before``: near 1 - (this bench's share) on a
    quiet machine, lower when other work ran beside it."""
    after = _cpu_ticks()
    spent = [b - a for a, b in zip(before, after, strict=False)]
    return round(spent[3] / sum(spent), 3) if len(spent) > 3 and sum(spent) else None


def _self_cpu(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _get_latencies(port: int, paths: list[str]) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out, errors = [], 0
    for path in paths:
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - t0) * 1000)
        errors += resp.status >= 400
    conn.close()
    return out, errors


def bench_search(server: Server, root: Path, sizes: list[int], queries: int) -> list[dict[str, Any]]:
    store = FilesystemStorage(root)
    rng = random.Random(0)
    have = 0
    rows = []
    for target in sizes:
        batch = [
            RepoImport(
                RepoKey("model", f"org{i % 500}", f"module-{i}"),
                tags=("dnn-module", f"class:c{i % 1000}", f"origin:org{i % 500}/net"),
            )
            for i in range(have, target)
        ]
        for start in range(0, len(batch), 20000):
            store.import_repos(batch[start : start + 20000])
        have = target
        search = [f"/api/models?search=module-{rng.randrange(target)}&limit=20" for _ in range(queries)]
        miss = [f"/api/models?search=nomatch{i}&limit=20" for i in range(queries)]
        tags = [
            f"/api/models?filter={quote(f'class:c{rng.randrange(1000)}')}&filter=dnn-module&limit=20"
            for _ in range(queries)
        ]
        row: dict[str, Any] = {"repos": target}
        for name, paths in (("search", search), ("search_miss", miss), ("filter", tags)):
            lat, errors = _get_latencies(server.port, paths)
            row[f"{name}_p50_ms"] = round(pct(lat, 50), 2)
            row[f"{name}_p99_ms"] = round(pct(lat, 99), 2)
            assert errors == 0, f"{errors} errors in {name}"
        rows.append(row)
    store.close()
    return rows


def bench_publish(server: Server, commits: int) -> dict[str, Any]:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("bench/publish", repo_type="dataset")
    head = api.dataset_info("bench/publish").sha
    t0 = time.perf_counter()
    for i in range(commits):
        manifest = json.dumps({"module": i, "class": f"c{i}"}).encode()
        info = api.create_commit(
            "bench/publish",
            repo_type="dataset",
            operations=[
                CommitOperationAdd(f"modules/c{i}/manifest.json", manifest),
                CommitOperationAdd(f"modules/c{i}/weights.bin", os.urandom(4096)),
            ],
            commit_message=f"publish c{i}",
            parent_commit=head,
        )
        head = info.oid
    elapsed = time.perf_counter() - t0
    return {"commits": commits, "commits_per_s": round(commits / elapsed, 1)}


def bench_load(server: Server, seconds: float, clients: int) -> dict[str, Any]:
    api = HfApi(endpoint=server.endpoint, token=False)
    api.create_repo("bench/load")
    api.upload_file(path_or_fileobj=os.urandom(64 * 1024), path_in_repo="w.bin", repo_id="bench/load")
    paths = [
        "/api/models/bench/load",
        "/bench/load/resolve/main/w.bin",
        "/api/models/bench/load/tree/main?recursive=true",
        "/api/models?search=module-12&limit=20",
        "/api/models?filter=class%3Ac7&limit=20",
    ]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                conn.request("GET", rng.choice(paths))
                resp = conn.getresponse()
                resp.read()
                bad += resp.status >= 400
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            mine.append((time.perf_counter() - t0) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 50), 2),
        "p99_ms": round(pct(latencies, 99), 2),
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument(
        "--pull", action="store_true", help="only the pull figures, 7 rounds (the rest of the results kept)"
    )
    parser.add_argument(
        "--xet-probe", action="store_true", help="only the hf_xet pull from a bare Xet responder (seconds)"
    )
    args = parser.parse_args()
    quick = args.quick
    results: dict[str, Any]
    if args.pull:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        with tempfile.TemporaryDirectory(prefix="nnparts-bench-") as tmp:
            server = Server(Path(tmp) / "root")
            try:
                results["pull"] = bench_pull(server, Path(tmp) / "root", Path(tmp), 100, rounds=7)
            finally:
                server.stop()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(render_pull(results["pull"]))
        return
    if args.xet_probe:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        with tempfile.TemporaryDirectory(prefix="nnparts-bench-") as tmp:
            results["xet_probe"] = bench_xet_probe(Path(tmp), 100)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(render_xet_probe(results["xet_probe"]))
        return
    results = {"quick": quick, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="nnparts-bench-") as tmp:
        work = Path(tmp)
        results["xet_probe"] = bench_xet_probe(work, 100)
        root = work / "root"
        server = Server(root)
        try:
            results["pull"] = bench_pull(server, root, work, 100)
            results["publish"] = bench_publish(server, 20 if quick else 100)
            results["search"] = bench_search(server, root, [1000, 10000, 100000], 100 if quick else 300)
            results["load"] = bench_load(server, 10.0 if quick else 30.0, 16)
        finally:
            server.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


def render(r: dict[str, Any]) -> str:
    pub, load = r["publish"], r["load"]
    lines = [
        *render_pull(r["pull"]).splitlines(),
        *render_xet_probe(r["xet_probe"]).splitlines()[2:],
        f"| publish rate | {pub['commits_per_s']} commits/s ({pub['commits']} commits) | |",
    ]
    for row in r["search"]:
        n = row["repos"]
        lines.append(
            f"| search p50/p99 @ {n} | {row['search_p50_ms']} / {row['search_p99_ms']} ms "
            f"(miss {row['search_miss_p50_ms']} / {row['search_miss_p99_ms']}) | p99 <= 50 ms |"
        )
        lines.append(
            f"| tag filter p50/p99 @ {n} | {row['filter_p50_ms']} / {row['filter_p99_ms']} ms | "
            "p99 <= 50 ms |"
        )
    lines.append(
        f"| load: {load['clients']} clients, {load['seconds']} s | {load['rps']} req/s, "
        f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, {load['errors']} errors | 0 errors |"
    )
    return "\n".join(lines)


def render_pull(p: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| metric | value | target |",
            "|---|---|---|",
            f"| pull {p['size_mb']} MB via hf_hub_download | {p['pull_mb_s']} MB/s | |",
            f"| plain file copy | {p['copy_mb_s']} MB/s | |",
            f"| pull / copy | {p['ratio']:.0%} | >= 50% |",
            f"| nnparts' own verified pull (one GET, splice, sha256 beside it) | {p['pinned_pull_mb_s']} MB/s "
            f"({p['pinned_ratio']:.0%} of copy; load {p['loadavg_1m_before']} before, "
            f"{p['idle_share_during']} of the cores idle during) | >= 50% |",
            f"| CPU per verified pull (client + server) | {p['pinned_cpu_s_per_pull']} s of "
            f"{p['pinned_pull_s']} s (copy: {p['copy_cpu_s']} s) | |",
            f"| verified pull / copy if every core ran the pull (CPU bound) | "
            f"{p['pinned_cpu_bound_ratio']:.0%} | >= 50% |",
            f"| same client from a bare sendfile responder (client ceiling) | {p['client_ceiling_mb_s']} MB/s "
            f"({p['ceiling_ratio']:.0%} of copy) | |",
            f"| pull / client ceiling | {p['pull_vs_ceiling']:.0%} | |",
            f"| raw loopback socket -> file (no HTTP client) | {p['raw_socket_mb_s']} MB/s | |",
            f"| server CPU per pull | {p['server_cpu_s_per_pull']} s of {p['pull_s']} s | |",
        ]
    )


def render_xet_probe(x: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| metric | value | target |",
            "|---|---|---|",
            f"| pull {x['size_mb']} MB via hf_hub_download + hf_xet {x['hf_xet']} from a bare Xet responder "
            f"(Xet ceiling) | {x['xet_pull_mb_s']} MB/s ({x['ratio']:.0%} of copy {x['copy_mb_s']} MB/s) "
            "| >= 50% |",
            f"| CPU per Xet pull (client + responder) | {x['cpu_s_per_pull']} s of {x['pull_s']} s "
            f"(copy: {x['copy_cpu_s']} s; load {x['loadavg_1m_before']} before) | |",
            f"| Xet pull / copy if every core ran the pull (CPU bound) | {x['cpu_bound_ratio']:.0%} | >= 50% |",
        ]
    )


if __name__ == "__main__":
    main()
