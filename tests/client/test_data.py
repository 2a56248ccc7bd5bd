"""Data specs, splits and loaders, on tiny files written in the real formats, plus the torch transforms."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnparts.client.cli import main
from nnparts.client.data import DataSpec, clear_memory_cache, load_split, parse_spec, stratified_holdout
from nnparts.schemas.errors import DataSpecError, FileMissing, UsageError
from nnparts.schemas.manifest import InputSpec


@pytest.fixture(autouse=True)
def _fresh_memory_cache() -> None:
    clear_memory_cache()


# --- spec parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "path"),
    [
        ("digits", "digits", None),
        (" DIGITS ", "digits", None),
        ("cifar10:/data/c10", "cifar10", Path("/data/c10")),
        ("fashion-mnist:rel/dir", "fashion-mnist", Path("rel/dir")),
        ("imagefolder:/x:y", "imagefolder", Path("/x:y")),
    ],
)
def test_parse_spec_accepts_the_four_kinds(text: str, kind: str, path: Path | None) -> None:
    spec = parse_spec(text)
    assert spec == DataSpec(kind, path)  # type: ignore[arg-type]
    assert parse_spec(str(spec)) == spec


def test_parse_spec_expands_home() -> None:
    assert parse_spec("cifar10:~/c10").path == Path.home() / "c10"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cifar100:x", "unknown data spec 'cifar100:x'; did you mean cifar10?"),
        ("mnist", "unknown data spec 'mnist'"),
        ("/some/dir", "use digits, cifar10:DIR, fashion-mnist:DIR or imagefolder:DIR"),
        ("cifar10:", "names no directory"),
        ("imagefolder:  ", "names no directory"),
        ("digits:/x", "digits takes no directory"),
    ],
)
def test_parse_spec_rejects_malformed(text: str, fragment: str) -> None:
    with pytest.raises(DataSpecError) as info:
        parse_spec(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("cifar100:x", "error: unknown data spec 'cifar100:x'"),
        ("cifar10:/no/such/dir", "error: no such file or directory: /no/such/dir"),
    ],
)
def test_cli_bad_data_spec_is_one_line_exit_2(tmp_path: Path, spec: str, fragment: str) -> None:
    (tmp_path / "model.json").write_text("{}")
    result = CliRunner().invoke(main, ["eval", str(tmp_path), "--data", spec, "--device", "cpu"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(fragment), result.stderr


def test_missing_directory_and_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(FileMissing):
        load_split(f"cifar10:{tmp_path / 'nope'}", "test")
    with pytest.raises(DataSpecError, match="cifar10_train"):
        load_split(f"cifar10:{tmp_path}", "test")
    with pytest.raises(DataSpecError, match="train-images-idx3-ubyte"):
        load_split(f"fashion-mnist:{tmp_path}", "test")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataSpecError, match="not a directory"):
        load_split(f"imagefolder:{tmp_path / 'file'}", "test")
    with pytest.raises(UsageError, match="unknown split 'validation'"):
        load_split("digits", "validation")


def test_parsing_specs_does_not_import_torch() -> None:
    code = "import sys, nnparts.client.data as d; d.parse_spec('digits'); print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"


# --- digits -------------------------------------------------------------------------------------


def test_digits_splits_are_stratified_60_20_20_and_partition_the_set() -> None:
    from sklearn.datasets import load_digits

    splits = {s: load_split("digits", s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1079, 359, 359]
    full_counts = np.bincount(load_digits().target)
    for s, frac in (("val", 0.2), ("test", 0.2), ("train", 0.6)):
        counts = np.asarray(splits[s].class_counts())
        assert np.all(np.abs(counts - frac * full_counts) <= 1.5), (s, counts)
    split = splits["train"]
    assert split.name == "digits" and split.classes == tuple("0123456789") and split.spec == "digits"
    assert split.x.dtype == np.uint8 and split.x.shape[1:] == (8, 8, 1) and split.y.dtype == np.int64
    assert split.x.max() == 255 and split.x.min() == 0
    # train + val + test is exactly the bundled set (as a multiset of image/label rows)
    expected = np.rint(load_digits().images * 255 / 16).astype(np.uint8).reshape(-1, 64)
    rows = np.concatenate([np.c_[splits[s].x.reshape(-1, 64), splits[s].y] for s in splits])
    full = np.c_[expected, load_digits().target]
    assert np.array_equal(np.unique(rows, axis=0, return_counts=True)[1].sum(), len(full))
    assert sorted(map(bytes, rows.astype(np.int64))) == sorted(map(bytes, full.astype(np.int64)))


def test_digits_splits_are_deterministic_and_read_only() -> None:
    first = load_split("digits", "val")
    clear_memory_cache()
    second = load_split("digits", "val")
    assert first.x is not second.x
    assert np.array_equal(first.x, second.x) and np.array_equal(first.y, second.y)
    with pytest.raises(ValueError, match="read-only"):
        first.x[0, 0, 0, 0] = 1


def test_stratified_holdout_is_disjoint_and_seeded() -> None:
    y = np.repeat(np.arange(4), [10, 20, 30, 5]).astype(np.int64)
    keep, held = stratified_holdout(y, 0.2, seed=0)
    assert set(keep).isdisjoint(held) and len(keep) + len(held) == len(y)
    assert np.bincount(y[held]).tolist() == [2, 4, 6, 1]
    again, held_again = stratified_holdout(y, 0.2, seed=0)
    assert np.array_equal(held, held_again) and np.array_equal(keep, again)
    assert not np.array_equal(held, stratified_holdout(y, 0.2, seed=1)[1])


def test_select_classes_relabels_in_the_given_order() -> None:
    test = load_split("digits", "test")
    sub = test.select_classes(["7", "2"])
    assert sub.classes == ("7", "2") and len(sub) == sum(test.class_counts()[i] for i in (7, 2))
    assert np.array_equal(sub.x[sub.y == 0], test.x[test.y == 7])
    with pytest.raises(UsageError, match="not in data set"):
        test.select_classes(["cat"])


# --- image folders ------------------------------------------------------------------------------


def _write_images(
    folder: Path, classes: dict[str, int], *, size: tuple[int, int] = (6, 5), mode: str = "RGB"
) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(
                folder / name / f"{i}.png"
            )


def test_imagefolder_without_train_test_is_split_80_20_then_val(tmp_path: Path) -> None:
    _write_images(tmp_path, {"zebra": 10, "ant": 10, "bee": 20})
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    spec = f"imagefolder:{tmp_path}"
    train, val, test = (load_split(spec, s) for s in ("train", "val", "test"))
    assert train.classes == ("ant", "bee", "zebra") and train.name == tmp_path.name
    assert test.class_counts() == (2, 4, 2)
    assert val.class_counts() == (1, 2, 1)
    assert train.class_counts() == (7, 14, 7)
    assert train.x.shape[1:] == (5, 6, 3)


def test_imagefolder_decodes_pixels_exactly(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    for cls in ("a", "b"):
        for split in ("train", "test"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.fromarray(pixels).save(tmp_path / split / cls / "0.png")
    test = load_split(f"imagefolder:{tmp_path}", "test")
    assert len(test) == 2 and test.classes == ("a", "b")
    assert np.array_equal(test.x[0], pixels)


def test_imagefolder_train_test_folders_gray_and_mixed_sizes(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"a": 10, "b": 10}, mode="L")
    _write_images(tmp_path / "test", {"a": 3, "b": 2}, mode="L")
    _write_images(tmp_path / "test", {"b": 1}, mode="L", size=(9, 9))  # overwrites b/0.png with 9x9
    test = load_split(f"imagefolder:{tmp_path}", "test")
    assert test.x.shape == (5, 5, 6, 1) and test.class_counts() == (3, 2)
    assert load_split(f"imagefolder:{tmp_path}", "val").class_counts() == (1, 1)


def test_imagefolder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataSpecError, match="holds no images"):
        load_split(f"imagefolder:{tmp_path / 'empty'}", "train")
    _write_images(tmp_path / "bad", {"a": 2})
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataSpecError, match="cannot decode image"):
        load_split(f"imagefolder:{tmp_path / 'bad'}", "train")
    _write_images(tmp_path / "mismatch" / "train", {"a": 1, "b": 1})
    _write_images(tmp_path / "mismatch" / "test", {"a": 1, "c": 1})
    with pytest.raises(DataSpecError, match="different class folders"):
        load_split(f"imagefolder:{tmp_path / 'mismatch'}", "train")


# --- fashion-mnist ------------------------------------------------------------------------------


def _idx(magic: int, dims: tuple[int, ...], data: np.ndarray) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return head + data.astype(np.uint8).tobytes()


def _write_fashion(
    folder: Path, n_train: int = 100, n_test: int = 20, *, gz: bool = True
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": np.arange(n_train) % 10,
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": np.arange(n_test)[::-1] % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": _idx(0x803, (n_train, 28, 28), arrays["train_x"]),
        "train-labels-idx1-ubyte": _idx(0x801, (n_train,), arrays["train_y"]),
        "t10k-images-idx3-ubyte": _idx(0x803, (n_test, 28, 28), arrays["test_x"]),
        "t10k-labels-idx1-ubyte": _idx(0x801, (n_test,), arrays["test_y"]),
    }
    for name, raw in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("layout", ["direct", "torchvision-root", "uncompressed"])
def test_fashion_mnist_reads_the_idx_files(tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision-root" else tmp_path
    arrays = _write_fashion(folder, gz=layout != "uncompressed")
    test = load_split(f"fashion-mnist:{tmp_path}", "test")
    assert (
        test.name == "fashionmnist" and test.classes[0] == "t-shirt/top" and test.classes[9] == "ankle boot"
    )
    assert np.array_equal(test.x[..., 0], arrays["test_x"]) and np.array_equal(test.y, arrays["test_y"])
    train, val = (
        load_split(f"fashion-mnist:{tmp_path}", "train"),
        load_split(f"fashion-mnist:{tmp_path}", "val"),
    )
    assert len(train) == 90 and val.class_counts() == (1,) * 10
    assert sorted(map(bytes, np.concatenate([train.x, val.x]))) == sorted(
        map(bytes, arrays["train_x"][..., None])
    )


def test_fashion_mnist_rejects_a_corrupt_file(tmp_path: Path) -> None:
    _write_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 8))
    with pytest.raises(DataSpecError, match="not an IDX file"):
        load_split(f"fashion-mnist:{tmp_path}", "test")


# --- cifar10 ------------------------------------------------------------------------------------

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _write_cifar(folder: Path, per_chunk: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, np.ndarray] = {}
    for name in ("cifar10_train_1", "cifar10_train_2", "cifar10_test"):
        x = rng.integers(0, 256, (per_chunk, 32, 32, 3), dtype=np.uint8)
        y = (np.arange(per_chunk) % 10).astype(np.uint8)
        names = np.asarray([f"{name}_{i}.png".encode() for i in range(per_chunk)])
        np.savez_compressed(
            folder / f"{name}.npz", x=x, y=y, filenames=names, classes=np.asarray(CIFAR_CLASSES)
        )
        out[name] = x
    return out


def test_cifar10_chunks_splits_and_disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "c10"
    chunks = _write_cifar(data)
    cache = tmp_path / "cache"
    spec = f"cifar10:{data}"
    test = load_split(spec, "test", cache_dir=cache)
    assert (
        test.name == "cifar10" and test.classes == CIFAR_CLASSES and test.spec == f"cifar10:{data.resolve()}"
    )
    assert np.array_equal(test.x, chunks["cifar10_test"])
    train, val = load_split(spec, "train", cache_dir=cache), load_split(spec, "val", cache_dir=cache)
    assert len(train) == 90 and val.class_counts() == (1,) * 10
    assert sorted(map(bytes, np.concatenate([train.x, val.x]))) == sorted(
        map(bytes, np.concatenate([chunks["cifar10_train_1"], chunks["cifar10_train_2"]]))
    )
    entries = list(cache.iterdir())
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()
    assert sorted(p.name for p in entries[0].glob("*.npy")) == [
        "test_x.npy",
        "test_y.npy",
        "train_x.npy",
        "train_y.npy",
    ]
    # after the memory cache is dropped, the load comes from disk: the npz reader is never called
    clear_memory_cache()

    def no_decoding(path: Path) -> None:
        raise AssertionError(f"decoded {path} despite the cache")

    monkeypatch.setattr("nnparts.client.data._formats.read_cifar10", no_decoding)
    cached = load_split(spec, "val", cache_dir=cache)
    assert np.array_equal(cached.x, val.x) and cached.classes == CIFAR_CLASSES


def test_cifar10_cache_misses_when_the_source_changes(tmp_path: Path) -> None:
    data = tmp_path / "c10"
    _write_cifar(data)
    cache = tmp_path / "cache"
    load_split(f"cifar10:{data}", "test", cache_dir=cache)
    clear_memory_cache()
    _write_cifar(data, per_chunk=20)
    assert len(load_split(f"cifar10:{data}", "test", cache_dir=cache)) == 20
    assert len(list(cache.iterdir())) == 2
    clear_memory_cache()
    assert len(load_split(f"cifar10:{data}", "test", disk_cache=False)) == 20


def test_cifar10_rejects_wrong_arrays(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    np.savez(
        tmp_path / "cifar10_test.npz", x=np.zeros((3, 32, 32), np.uint8), y=np.zeros(3), classes=CIFAR_CLASSES
    )
    with pytest.raises(DataSpecError, match="expected x uint8"):
        load_split(f"cifar10:{tmp_path}", "test", disk_cache=False)


# --- torch transforms ---------------------------------------------------------------------------


def test_to_tensor_normalises_and_adapts_channels_and_size() -> None:
    import torch

    from nnparts.client.data.transforms import to_tensor

    x = np.zeros((2, 4, 4, 1), dtype=np.uint8)
    x[0] = 255
    rgb = InputSpec(3, 4, 4, (0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    t = to_tensor(x, rgb)
    assert t.shape == (2, 3, 4, 4) and t.dtype == torch.float32
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([1.0, 3.0, 1.0]))
    assert torch.allclose(t[1, :, 0, 0], torch.tensor([-1.0, -1.0, 0.0]))
    colour = np.stack([np.full((4, 4), v, np.uint8) for v in (0, 51, 102)], axis=-1)[None]
    gray = to_tensor(colour, InputSpec(1, 8, 2, (0.0,), (1.0,)))
    assert gray.shape == (1, 1, 8, 2) and torch.allclose(gray, torch.full_like(gray, 0.2))
    near = to_tensor(colour, InputSpec(3, 2, 2, (0.0,) * 3, (1.0,) * 3), interpolation="nearest")
    assert near.shape == (1, 3, 2, 2)
    with pytest.raises(UsageError, match="cannot map 3-channel"):
        to_tensor(colour, InputSpec(2, 4, 4, (0.0,) * 2, (1.0,) * 2))
    with pytest.raises(UsageError, match="expected uint8 NHWC"):
        to_tensor(colour[0], rgb)


def test_iterate_batches_covers_the_split_and_shuffles_by_seed() -> None:
    import torch

    from nnparts.client.data.transforms import iterate_batches

    split = load_split("digits", "val")
    spec = InputSpec(1, 8, 8, (0.0,), (1.0,))
    plain = list(iterate_batches(split, spec, 100))
    assert [len(y) for _, y in plain] == [100, 100, 100, 59]
    assert torch.equal(torch.cat([y for _, y in plain]), torch.from_numpy(split.y.copy()))
    a = torch.cat([y for _, y in iterate_batches(split, spec, 64, shuffle=True, seed=3)])
    b = torch.cat([y for _, y in iterate_batches(split, spec, 64, shuffle=True, seed=3)])
    c = torch.cat([y for _, y in iterate_batches(split, spec, 64, shuffle=True, seed=4)])
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sorted(a.tolist()) == sorted(split.y.tolist())
    with pytest.raises(UsageError, match="batch size"):
        next(iterate_batches(split, spec, 0))


def test_val_from_test_splits_the_official_test_set_in_halves(tmp_path: Path) -> None:
    data = tmp_path / "c10"
    chunks = _write_cifar(data, per_chunk=40)
    spec = f"cifar10:{data}?val=test"
    assert str(parse_spec(spec)).endswith("?val=test") and parse_spec(spec).val_from == "test"
    train, val, test = (load_split(spec, s, disk_cache=False) for s in ("train", "val", "test"))
    assert len(train) == 80 and val.class_counts() == (2,) * 10 and test.class_counts() == (2,) * 10
    assert sorted(map(bytes, np.concatenate([val.x, test.x]))) == sorted(map(bytes, chunks["cifar10_test"]))
    assert not set(map(bytes, val.x)) & set(map(bytes, test.x))
    assert val.spec == test.spec == f"cifar10:{data.resolve()}?val=test"
    # the default spec still carves val from train
    assert len(load_split(f"cifar10:{data}", "test", disk_cache=False)) == 40


def test_val_from_test_needs_an_official_test_set(tmp_path: Path) -> None:
    _write_images(tmp_path, {"a": 5, "b": 5})
    with pytest.raises(DataSpecError, match="no official test set"):
        load_split(f"imagefolder:{tmp_path}?val=test", "val")
    with pytest.raises(DataSpecError, match="unknown option"):
        parse_spec(f"cifar10:{tmp_path}?val=train-ish")
