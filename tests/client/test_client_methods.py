"""Every CLI verb is a :class:`~nnparts.client.Client` method with a typed result: publish, search,
show, list, yank, install (plain and frozen), compose, replace, predict, import, sign, bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_package import write_package
from PIL import Image
from trust_keys import cli, make_key

from nnparts.client import Client
from nnparts.client.assemble import AssembledModel, Prediction, Replacement
from nnparts.client.resolve import InstallResult, ModuleInfo, Published
from nnparts.client.trust import load_public_key
from nnparts.schemas.errors import FileMissing, ModuleNotFound, UnknownClass, UsageError


def _client(tmp_path: Path) -> Client:
    return Client(home=tmp_path / "home", registries=[tmp_path / "registry"], device="cpu", progress=False)


def _packages(tmp_path: Path) -> list[Path]:
    return [
        write_package(tmp_path / "src" / name, module_id=f"zoo/{name}", classes=[(name, [])], seed=i)
        for i, name in enumerate(("cat", "dog"))
    ]


def _published(tmp_path: Path) -> Client:
    client = _client(tmp_path)
    for package in _packages(tmp_path):
        client.publish(package)
    return client


def test_publish_search_show_list_yank(tmp_path: Path) -> None:
    client = _client(tmp_path)
    cat, dog = _packages(tmp_path)
    published = client.publish(cat)
    assert isinstance(published, Published) and str(published) == published.ref == "zoo/cat@1.0.0"
    assert [e.ref for e in published.entries] == ["zoo/cat@1.0.0"] and published.signed == ()
    assert published.registry == client.registries[0].name
    client.publish(dog)
    assert [e.ref for e in client.search("cat")] == ["zoo/cat@1.0.0"]
    with pytest.raises(UnknownClass):
        client.search("emu")
    info = client.show("zoo/cat")
    assert isinstance(info, ModuleInfo) and info.entry.ref == "zoo/cat@1.0.0"
    assert info.manifest.class_names == ("cat",) and info.signer is None
    assert info.registry == client.registries[0].name
    assert client.show("zoo/cat", "1.0.0") == info == client.show("zoo/cat@1.0.0")
    with pytest.raises(ModuleNotFound):
        client.show("zoo/emu")
    assert [e.ref for e in client.list_modules()] == ["zoo/cat@1.0.0", "zoo/dog@1.0.0"]
    yanked = client.yank("zoo/cat", reason="mislabelled")
    assert yanked.yanked and yanked.yank_reason == "mislabelled"
    assert client.search("cat") == [] and [e.ref for e in client.search("cat", include_yanked=True)] == [
        "zoo/cat@1.0.0"
    ]
    assert [e.yanked for e in client.list_modules()] == [True, False]
    assert [e.ref for e in client.list_modules(include_yanked=False)] == ["zoo/dog@1.0.0"]


def test_install_result_carries_what_the_cli_prints(tmp_path: Path) -> None:
    client = _published(tmp_path)
    lock = tmp_path / "nnparts.lock"
    result = client.install(["cat", "dog"], lock=lock)
    assert isinstance(result, InstallResult) and not result.frozen and result.lock_path == lock
    assert lock.is_file() and result.fetched == 2 and result.signed == 0
    assert sorted(result.paths) == ["zoo/cat@1.0.0", "zoo/dog@1.0.0"]
    assert result.module_paths() == [client.installed / m.manifest_sha256 for m in result.lock.modules]
    assert all(p.is_dir() for p in result.paths.values())
    assert result.plan is not None and [p.requested for p in result.plan.picks] == ["cat", "dog"]
    assert [line.split(":")[0] for line in result.explain()] == ["cat", "dog"]
    again = client.install(lock=lock, frozen=True)  # every package verified in the cache: offline
    assert again.frozen and again.plan is None and again.explain() == []
    assert again.fetched == 0 and again.lock.modules == result.lock.modules
    assert dict(again.paths) == dict(result.paths)
    with pytest.raises(UsageError, match="name no classes"):
        client.install(["cat"], lock=lock, frozen=True)
    with pytest.raises(UsageError, match="lock"):
        client.install(frozen=True)
    # the CLI prints exactly this result
    doc = json.loads(cli("install", "--frozen", "--lock", lock, "--json").stdout)
    assert doc == {"lock": str(lock), "installed": 2, "fetched": 2}  # the CLI's own (empty) home


def test_assemble_takes_an_install_result(tmp_path: Path) -> None:
    client = _published(tmp_path)
    model = client.assemble(client.install(["dog", "cat"]), out=tmp_path / "asm")
    assert isinstance(model, AssembledModel) and model.classes == ("dog", "cat")


def _images(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (10 + i, 12, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_compose_replace_predict(tmp_path: Path) -> None:
    client = _client(tmp_path)
    cat, dog = _packages(tmp_path)
    out = tmp_path / "composed"
    model = client.compose([cat, dog], out=out, name="pets")
    assert isinstance(model, AssembledModel) and model.classes == ("cat", "dog")
    assert len(model.parts) == 2 and model.stitch is None and (out / "manifest.json").is_file()
    with pytest.raises(FileMissing):
        client.compose([cat, tmp_path / "none"], out=tmp_path / "x")

    images = _images(tmp_path / "images")
    found = client.predict(out, images)
    assert [p.image for p in found] == images and all(isinstance(p, Prediction) for p in found)
    assert all(p.class_name == model.classes[p.label] and 0.0 < p.probability < 1.0 for p in found)
    assert client.predict(model, images) == found  # the returned model, as the package
    with pytest.raises(FileMissing):
        client.predict(out, [*images, tmp_path / "missing.png"])
    with pytest.raises(UsageError, match="not an assembly"):
        client.predict(cat, images)

    other = write_package(tmp_path / "src" / "cat2", module_id="zoo/cat2", classes=[("cat", [])], seed=7)
    done = client.replace(out, "cat", other, out=tmp_path / "replaced")
    assert done == Replacement(tmp_path / "replaced", "cat", str(other), stitch_dropped=False)
    assert client.load(done.path).classes == ("cat", "dog")  # type: ignore[attr-defined]
    client.publish(other)
    by_ref = client.replace(out, "cat", "zoo/cat2@1.0.0")  # fetched from the registry, in place
    assert by_ref.path == out and by_ref.module == "zoo/cat2@1.0.0"
    with pytest.raises(UsageError, match="no class 'emu'"):
        client.replace(out, "emu", other)


def test_sign_publish_with_a_key_and_show_the_signer(tmp_path: Path) -> None:
    client = _client(tmp_path)
    cat, _ = _packages(tmp_path)
    key = make_key(tmp_path / "keys", "alice")
    alice = load_public_key(key.public).fingerprint
    published = client.publish(cat, sign_key=key.private)
    (signed,) = published.signed
    assert signed.path == cat and signed.ref == "zoo/cat@1.0.0" and signed.signer.fingerprint == alice
    assert client.show("zoo/cat").signer == alice
    result = client.install(["cat"], trust=[key.public])
    assert result.signed == 1
    resigned = client.sign(cat, key.private)
    assert resigned.signer.fingerprint == alice and (cat / "package.sig").is_file()


def test_bundle_round_trip(tmp_path: Path) -> None:
    client = _published(tmp_path)
    lock = tmp_path / "nnparts.lock"
    client.install(["cat", "dog"], lock=lock)
    report = client.export_bundle(lock, tmp_path / "site.tar")
    assert report.packages == 2 and report.signed == 0
    other = Client(home=tmp_path / "home-b", registries=[tmp_path / "none"], device="cpu")
    imported = other.import_bundle(tmp_path / "site.tar", lock=tmp_path / "b.lock")
    assert imported.packages == 2 and (tmp_path / "b.lock").is_file()
    frozen = other.install(lock=tmp_path / "b.lock", frozen=True)
    assert frozen.fetched == 0 and all(p.parent == other.installed for p in frozen.paths.values())


def test_import_model_from_weights(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from nnparts.client.zoo import build_model

    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_file(
        {k: v.contiguous() for k, v in build_model("digits_cnn", {}).state_dict().items()}, str(weights)
    )
    client = _client(tmp_path)
    spec = {"channels": 1, "height": 8, "width": 8, "mean": [0.3], "std": [0.4]}
    origin = client.import_model(
        weights, arch="digits_cnn", input=spec, name="digits-random", dataset="digits"
    )
    assert origin.path == client.home / "origins" / "digits-random" and origin.architecture == "digits_cnn"
    assert len(origin.classes) == 10 and origin.meta.files[0].bytes > 0
    assert client.origin(origin.path) == origin
    with pytest.raises(UsageError, match="lacks or mistypes"):
        client.import_model(weights, arch="digits_cnn", input={"channels": 1}, name="x")
    with pytest.raises(UsageError, match="name= or out="):
        client.import_model(weights, arch="digits_cnn", input=spec)


def test_the_registry_verbs_of_the_client_load_no_torch(tmp_path: Path) -> None:
    _published(tmp_path)
    probe = (
        "import sys\n"
        "from nnparts.client import Client\n"
        f"c = Client(home={str(tmp_path / 'h')!r}, registries=[{str(tmp_path / 'registry')!r}])\n"
        "assert [e.ref for e in c.search('cat')] == ['zoo/cat@1.0.0']\n"
        "assert c.show('zoo/dog').entry.id == 'zoo/dog' and len(c.list_modules()) == 2\n"
        "c.install(['cat'])\n"
        "assert 'torch' not in {m.split('.')[0] for m in sys.modules}, 'torch loaded'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
