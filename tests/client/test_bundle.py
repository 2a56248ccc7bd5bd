"""Offline bundles: export the locked packages on one machine, import them into an empty
NNPARTS_HOME with no registry, install ``--frozen``; unsafe or altered bundles are refused whole."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from fake_package import write_package
from trust_keys import KeyPair, assert_refused, cache_entries, cli, make_key

from nnparts.client.resolve import read_lockfile
from nnparts.client.trust import bundle as bundle_module
from nnparts.client.trust import sign_package
from nnparts.schemas.signature import SIGNATURE_NAME


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    folder = tmp_path_factory.mktemp("keys")
    return {"alice": make_key(folder, "alice"), "bob": make_key(folder, "bob")}


@pytest.fixture
def exported(keys: dict[str, KeyPair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """On "machine A": cat (signed by alice) and dog (unsigned) installed and bundled. Returns (bundle, lock)."""
    monkeypatch.setenv("NNPARTS_HOME", str(tmp_path / "home-a"))
    registry = tmp_path / "registry"
    cat = write_package(tmp_path / "src" / "cat", module_id="zoo/cat", classes=[("cat", [])])
    sign_package(cat, keys["alice"].private)
    dog = write_package(tmp_path / "src" / "dog", module_id="zoo/dog", classes=[("dog", [])], seed=3)
    for package in (cat, dog):
        assert cli("publish", package, "--registry", registry).exit_code == 0
    lock = tmp_path / "nnparts.lock"
    assert cli("install", "cat", "dog", "--registry", registry, "--lock", lock).exit_code == 0
    out = tmp_path / "out" / "site.tar"
    result = cli("bundle", "export", "--lock", lock, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: 2 packages (1 signed, ")
    assert sorted(p.name for p in out.parent.iterdir()) == ["site.tar"]  # no temporary file left
    shutil.rmtree(registry)  # machine B reaches no registry
    return out, lock


def _machine_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home-b"
    monkeypatch.setenv("NNPARTS_HOME", str(home))
    return home


def test_round_trip_into_an_empty_home_with_no_registry(
    exported: tuple[Path, Path], keys: dict[str, KeyPair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = exported
    home = _machine_b(tmp_path, monkeypatch)
    lock_b = tmp_path / "b" / "nnparts.lock"
    result = cli("bundle", "import", bundle, "--lock", lock_b)
    assert result.exit_code == 0, result.output
    assert "imported 2 packages" in result.stdout and lock_b.is_file()
    frozen = cli("install", "--frozen", "--lock", lock_b)
    assert frozen.exit_code == 0, frozen.output
    assert "2 modules installed" in frozen.stdout and "(0 fetched" in frozen.stdout
    modules = {m.id: m for m in read_lockfile(lock_b).modules}
    assert cache_entries(home) == sorted(m.manifest_sha256 for m in modules.values())
    cat = home / "installed" / modules["zoo/cat"].manifest_sha256
    assert (cat / SIGNATURE_NAME).is_file()
    assert cli("bundle", "import", bundle).exit_code == 0  # importing again changes nothing
    assert cache_entries(home) == sorted(m.manifest_sha256 for m in modules.values())


def test_import_with_trust_checks_every_signature(
    exported: tuple[Path, Path], keys: dict[str, KeyPair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = exported
    home = _machine_b(tmp_path, monkeypatch)
    assert_refused(
        cli("bundle", "import", bundle, "--trust", keys["alice"].public), "zoo/dog@1.0.0 is unsigned"
    )
    assert cache_entries(home) == []
    assert_refused(cli("bundle", "import", bundle, "--trust", keys["bob"].public), "zoo/cat@1.0.0")
    assert cache_entries(home) == []
    (home / "trust.toml").write_text(f'[[rule]]\nnamespace = "zoo"\nkeys = ["{keys["alice"].public}"]\n')
    assert_refused(cli("bundle", "import", bundle), "zoo/dog@1.0.0 is unsigned")


def _rewrite(bundle: Path, out: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    """Copy ``bundle`` member by member; ``edit(info, data)`` returns the (info, data) pairs to write."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for info in src:
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            for new_info, new_data in edit(info, data):
                if new_data is not None:
                    new_info.size = len(new_data)
                dst.addfile(new_info, io.BytesIO(new_data) if new_data is not None else None)
    return out


def _flip_weights(info: tarfile.TarInfo, data: bytes):  # type: ignore[no-untyped-def]
    if info.name.endswith("weights.safetensors"):
        data = data[:-1] + bytes([data[-1] ^ 1])
    return [(info, data)]


def _add(name: str, kind: bytes = tarfile.REGTYPE, link: str = ""):  # type: ignore[no-untyped-def]
    def edit(info: tarfile.TarInfo, data: bytes):  # type: ignore[no-untyped-def]
        if info.name != "nnparts.lock":
            return [(info, data)]
        extra = tarfile.TarInfo(name)
        extra.type, extra.linkname = kind, link
        return [(info, data), (extra, b"x" if kind == tarfile.REGTYPE else None)]

    return edit


def _drop_index(info: tarfile.TarInfo, data: bytes):  # type: ignore[no-untyped-def]
    return [] if info.name == "nnparts-bundle.json" else [(info, data)]


def _drop_signature(info: tarfile.TarInfo, data: bytes):  # type: ignore[no-untyped-def]
    return [] if info.name.endswith(SIGNATURE_NAME) else [(info, data)]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_flip_weights, "sha256 mismatch"),
        (_add("../evil.txt"), "unsafe path"),
        (_add("/etc/evil"), "unsafe path"),
        (_add("packages/" + "0" * 64 + "/manifest.json"), "unexpected member"),
        (_add("packages/link", tarfile.SYMTYPE, "/etc/passwd"), "not a regular file"),
        (_add("packages/hard", tarfile.LNKTYPE, "nnparts.lock"), "not a regular file"),
        (_drop_index, "is not an nnparts bundle"),
        (_drop_signature, "lacks 1 files"),
    ],
    ids=["corrupt-weights", "dotdot", "absolute", "undeclared", "symlink", "hardlink", "no-index", "missing"],
)
def test_an_altered_or_unsafe_bundle_installs_nothing(
    edit,
    fragment: str,
    exported: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    bundle, _ = exported
    altered = _rewrite(bundle, tmp_path / "altered.tar", edit)
    home = _machine_b(tmp_path, monkeypatch)
    assert_refused(cli("bundle", "import", altered), fragment)
    assert cache_entries(home) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_sizes_are_bounded(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = exported
    home = _machine_b(tmp_path, monkeypatch)
    monkeypatch.setattr(bundle_module, "MAX_FILE_BYTES", 100)
    assert_refused(cli("bundle", "import", bundle), "over the bounds")
    monkeypatch.setattr(bundle_module, "MAX_FILE_BYTES", 1 << 30)
    monkeypatch.setattr(bundle_module, "MAX_MEMBERS", 3)
    assert_refused(cli("bundle", "import", bundle), "more than 3 members")
    assert cache_entries(home) == []
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    assert_refused(cli("bundle", "import", tmp_path / "junk.tar"), "not an uncompressed tar file")


def test_export_needs_the_packages_installed(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, lock = exported
    _machine_b(tmp_path, monkeypatch)
    out = tmp_path / "again.tar"
    assert_refused(
        cli("bundle", "export", "--lock", lock, "--out", out), "is not installed intact", "--frozen"
    )
    assert not out.exists()
    doc = json.loads(lock.read_bytes())
    assert len(doc["modules"]) == 2
