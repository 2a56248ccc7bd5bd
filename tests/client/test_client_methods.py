"""Every CLI verb is a :class:`~nnparts.client.Client` method with a typed result: publish, search,
show, list, yank, install (plain and frozen), compose, replace, predict, import, sign, bundles."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_package import write_package
from PIL import Image
from trust_keys import assert_refused, cli, make_key

from nnparts.client import Client
from nnparts.client.assemble import AssembledModel, OnnxExport, Prediction, Replacement
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


# -- the options of the computing commands are the methods' keywords, checked by the API ----------

#: (method, keywords, CLI argv after the command's required arguments, what the one line names)
BAD_SETTINGS = [
    ("decompose", {"epochs": 0.0}, ["--epochs", "0"], "--epochs must be a number in (0, 1000], got 0"),
    ("decompose", {"epochs": -5.0}, ["--epochs", "-5"], "got -5"),
    (
        "decompose",
        {"epochs": math.nan},
        ["--epochs", "nan"],
        "--epochs must be a number in (0, 1000], got nan",
    ),
    ("decompose", {"epochs": 1e4}, ["--epochs", "10000"], "got 10000"),
    ("decompose", {"trunk": "1.5"}, ["--trunk", "1.5"], "--trunk must be a fraction in (0, 1), got 1.5"),
    ("decompose", {"trunk": 1.0}, ["--trunk", "1"], "--trunk must be a fraction in (0, 1), got 1.0"),
    ("decompose", {"trunk": "half"}, ["--trunk", "half"], "auto, none or a fraction in (0, 1), got 'half'"),
    (
        "decompose",
        {"trunk_goal": 0.0},
        ["--trunk-goal", "0"],
        "--trunk-goal must be a fraction in (0, 1], got 0",
    ),
    ("decompose", {"trunk_goal": -1.0}, ["--trunk-goal", "-1"], "--trunk-goal must be a fraction"),
    ("decompose", {"flops_goal": math.nan}, ["--flops-goal", "nan"], "--flops-goal must be a fraction"),
    ("decompose", {"flops_goal": 1.5}, ["--flops-goal", "1.5"], "got 1.5"),
    ("decompose", {"augment": "rotate"}, None, "unknown augment 'rotate'"),
    ("decompose", {"method": "magic"}, None, "unknown method 'magic'"),
    (
        "decompose",
        {"method": "activation", "epochs": 2.0},
        ["--method", "activation", "--epochs", "2"],
        "--epochs: options of --method channel, not activation",
    ),
    ("reengineer", {"alpha": math.nan}, ["--alpha", "nan"], "--alpha must be a number in [0, inf), got nan"),
    ("reengineer", {"alpha": -1.0}, ["--alpha", "-1"], "--alpha must be a number in [0, inf), got -1"),
    ("reengineer", {"lr_mask": 0.0}, ["--lr-mask", "0"], "--lr-mask must be a number in (0, inf), got 0"),
    ("reengineer", {"lr_mask": -1.0}, ["--lr-mask", "-1"], "--lr-mask must be a number in (0, inf), got -1"),
    ("reengineer", {"max_train": 0}, ["--max-train", "0"], "--max-train must be a positive integer, got 0"),
    ("reengineer", {"epochs": 0}, ["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (
        "reengineer",
        {"target_retention": 1.0},
        ["--target-retention", "1"],
        "--target-retention must be a fraction in (0, 1), got 1.0",
    ),
    ("reengineer", {"augment": "rotate"}, ["--augment", "rotate"], "unknown augment 'rotate'"),
    ("reengineer", {"target": " , "}, ["--target", " , "], "names no class"),
    ("compose", {"abstain": 1.5}, ["--abstain", "1.5"], "--abstain must be a probability in (0, 1), got 1.5"),
    (
        "compose",
        {"abstain": math.nan},
        ["--abstain", "nan"],
        "--abstain must be a probability in (0, 1), got nan",
    ),
    ("compose", {"abstain": 0.0}, ["--abstain", "0"], "--abstain must be a probability in (0, 1), got 0"),
    ("assemble", {"abstain": 1.0}, ["--abstain", "1"], "--abstain must be a probability in (0, 1), got 1.0"),
    ("install", {"min_accuracy": math.nan}, ["--min-accuracy", "nan"], "--min-accuracy must be a fraction"),
    (
        "install",
        {"max_density": 2.0},
        ["--max-density", "2"],
        "--max-density must be a fraction in (0, 1], got 2",
    ),
    ("install", {"input": "3x32"}, ["--input", "3x32"], "--input '3x32' is not CxHxW"),
    ("quickstart", {"epochs": 0}, ["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (
        "quickstart",
        {"tune_epochs": 0.01},
        ["--tune-epochs", "0.01"],
        "--tune-epochs must be a number in [0.05",
    ),
]


def _call(client: Client, method: str, kwargs: dict[str, Any], tmp_path: Path) -> None:
    """``method`` with its required arguments (a missing origin, lock or package: checked later)."""
    missing = tmp_path / "none"
    kw = dict(kwargs)
    if method == "decompose":
        client.decompose(missing, "digits", out=tmp_path / "out", **kw)
    elif method == "reengineer":
        client.reengineer(missing, "digits", kw.pop("target", "0"), out=tmp_path / "out", **kw)
    elif method == "compose":
        client.compose([missing], out=tmp_path / "out", **kw)
    elif method == "assemble":
        client.assemble(missing, out=tmp_path / "out", **kw)
    elif method == "install":
        client.install(["cat"], **kw)
    else:
        client.quickstart(tmp_path / "work", **kw)


def _argv(method: str, options: list[str], tmp_path: Path) -> list[str | Path]:
    missing, out = tmp_path / "none", tmp_path / "out"
    head: dict[str, list[str | Path]] = {
        "decompose": ["decompose", missing, "--data", "digits", "--out", out],
        "reengineer": ["reengineer", missing, "--data", "digits", "--out", out],
        "compose": ["compose", missing, "--out", out],
        "assemble": ["assemble", "--lock", missing, "--out", out],
        "install": ["install", "cat", "--registry", tmp_path / "registry"],
        "quickstart": ["quickstart", "--workdir", tmp_path / "work", "--registry", tmp_path / "registry"],
    }
    argv = head[method] + list(options)
    if method == "reengineer" and "--target" not in options:
        argv += ["--target", "0"]
    return argv


@pytest.mark.parametrize(
    ("method", "kwargs", "options", "message"),
    BAD_SETTINGS,
    ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for m, kw, _, _ in BAD_SETTINGS],
)
def test_bad_settings_are_refused_by_the_api_as_by_the_cli(
    tmp_path: Path, method: str, kwargs: dict[str, Any], options: list[str] | None, message: str
) -> None:
    client = _client(tmp_path)
    with pytest.raises(UsageError) as refused:
        _call(client, method, kwargs, tmp_path)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
    if options is not None:  # the command prints the very same line (click's choices aside)
        result = cli(*_argv(method, options, tmp_path))
        assert_refused(result, str(refused.value))


def test_the_client_checks_the_batch_size_as_the_commands_print_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        Client(home=tmp_path / "home", batch_size=0)
    assert str(refused.value) == "--batch-size must be positive, got 0"
    result = cli(
        "decompose", tmp_path / "none", "--data", "digits", "--out", tmp_path / "o", "--batch-size", "0"
    )
    assert_refused(result, str(refused.value))


#: (keywords of Client.decompose, the extractor that runs, the parameters it is given)
DECOMPOSE_SETTINGS = [
    ({}, "trunk", {}),
    ({"trunk": "none"}, "trunk", {"trunk_fraction": None, "tail_goal": 0.35}),
    ({"trunk": None, "flops_goal": 0.5}, "trunk", {"trunk_fraction": None, "tail_goal": 0.5}),
    ({"trunk": "0.5", "trunk_goal": 0.6}, "trunk", {"trunk_fraction": 0.5, "trunk_goal": 0.6}),
    ({"epochs": 3, "augment": "crop"}, "trunk", {"tail_epochs": 3, "trunk_epochs": 1.0, "augment": "crop"}),
    ({"method": "activation"}, "activation", {}),
]


@pytest.mark.parametrize(("kwargs", "extractor", "params"), DECOMPOSE_SETTINGS)
def test_decompose_settings_reach_the_extractor(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    extractor: str,
    params: dict[str, Any],
) -> None:
    from nnparts.client import DecomposeSettings
    from nnparts.client.extract import pipeline

    seen: list[tuple[str, dict[str, Any], Any]] = []

    def fake(model_dir: Path, data_spec: str, out_dir: Path, **kw: Any) -> list[Any]:
        seen.append((kw["method"], kw["settings"].params, kw["classes"]))
        return []

    monkeypatch.setattr(pipeline, "decompose", fake)
    client = _client(tmp_path)
    assert client.decompose(tmp_path / "origin", "digits", out=tmp_path / "m", classes="3, 7", **kwargs) == []
    assert seen == [(extractor, params, ["3", "7"])]
    settings = DecomposeSettings(**kwargs)
    assert settings.extractor == extractor and settings.params() == params
    with pytest.raises(FrozenInstanceError):
        settings.epochs = 1.0  # type: ignore[misc]
    # the command passes its options through unchanged: the same settings reach the extractor
    options = {"trunk": "--trunk", "trunk_goal": "--trunk-goal", "flops_goal": "--flops-goal"}
    options |= {"epochs": "--epochs", "augment": "--augment", "method": "--method"}
    argv: list[str | Path] = ["decompose", tmp_path / "origin", "--data", "digits", "--out", tmp_path / "m"]
    for key, value in kwargs.items():
        argv += [options[key], "none" if value is None else str(value)]
    result = cli(*argv, "--classes", "3", "--classes", "7", "-q")
    assert result.exit_code == 0, result.output
    assert seen[1] == seen[0]


# -- what the methods return imports from nnparts.client ------------------------------------------


def test_the_result_types_are_exported() -> None:
    import nnparts.client as package
    from nnparts.client.api import Evaluation, Origin, Package
    from nnparts.client.extract.decompose_settings import DecomposeSettings
    from nnparts.client.quickstart import QuickstartReport
    from nnparts.client.resolve import Lockfile, Signed
    from nnparts.client.trust import BundleReport
    from nnparts.schemas.index_entry import IndexEntry

    expected = {
        AssembledModel,
        BundleReport,
        Client,
        DecomposeSettings,
        Evaluation,
        IndexEntry,
        InstallResult,
        Lockfile,
        ModuleInfo,
        OnnxExport,
        Origin,
        Package,
        Prediction,
        Published,
        QuickstartReport,
        Replacement,
        Signed,
    }
    assert package.__all__ == sorted(package.__all__)
    assert {getattr(package, name) for name in package.__all__} == expected
    assert all(getattr(package, name).__name__ == name for name in package.__all__)
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError):
        package.Nope  # noqa: B018
    # every method's return annotation names an exported type (or a builtin, or nn.Module)
    exported = set(package.__all__) | {"None", "Path", "nn.Module"}
    for name, method in vars(Client).items():
        if callable(method) and not name.startswith("_"):
            annotation = str(method.__annotations__.get("return", "None"))
            inner = annotation.removeprefix("list[").removesuffix("]")
            assert inner in exported, f"Client.{name} returns {annotation}"


# -- the quickstart installs into the client's own home -------------------------------------------


class _Installed(Exception):
    """Raised by the fake install: where it was asked to install is all the test needs."""


def test_quickstart_installs_into_the_clients_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plumbing only (training, decomposition and publishing faked; the whole quickstart runs in
    ``test_quickstart.py``): ``Client.quickstart`` passes its install cache down to the install,
    and leaves torch's thread count as it was."""
    import torch

    from nnparts.client import quickstart
    from nnparts.client.home import installed_root
    from nnparts.client.zoo import build_model

    roots: list[Path | None] = []

    def train(classes: tuple[str, ...], *args: Any) -> tuple[Any, float]:
        return build_model("digits_cnn", {"num_classes": len(classes), "in_channels": 1}), 0.5

    def install(wanted: list[str], registries: list[Any], **kw: Any) -> Any:
        roots.append(kw.get("root"))
        raise _Installed

    monkeypatch.setattr(quickstart, "_train", train)
    monkeypatch.setattr(quickstart, "decompose", lambda *a, **kw: [])
    monkeypatch.setattr(quickstart, "publish_next_free", lambda *a, **kw: None)
    monkeypatch.setattr(quickstart, "install", install)
    client = _client(tmp_path)
    threads = torch.get_num_threads()
    with pytest.raises(_Installed):
        client.quickstart(tmp_path / "work", epochs=1, log=lambda msg: None)
    assert roots == [client.installed] and client.installed != installed_root()
    assert torch.get_num_threads() == threads
    result = cli("quickstart", "--workdir", tmp_path / "w2", "--registry", tmp_path / "registry", "-q")
    assert isinstance(result.exception, _Installed)  # the command's client: the home is $NNPARTS_HOME
    assert roots[1] == Path(os.environ["NNPARTS_HOME"]) / "installed" == installed_root()
