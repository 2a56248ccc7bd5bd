"""Readers for the on-disk formats behind each data spec. numpy (and Pillow for images) only.

Each reader returns a :class:`RawData`: the source's own train and test arrays, before the
train/val/test policy of :mod:`._split` is applied.
"""

from __future__ import annotations

import gzip
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nnparts.schemas.errors import DataSpecError, FileMissing, UsageError

if TYPE_CHECKING:
    from PIL import Image

FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
_IDX_MAGIC_IMAGES = 0x00000803
_IDX_MAGIC_LABELS = 0x00000801


@dataclass(frozen=True, eq=False)
class RawData:
    """A source's own arrays; ``test_x``/``test_y`` are None when it has no separate test set."""

    name: str
    classes: tuple[str, ...]
    train_x: npt.NDArray[np.uint8]
    train_y: npt.NDArray[np.int64]
    test_x: npt.NDArray[np.uint8] | None = None
    test_y: npt.NDArray[np.int64] | None = None


def require_dir(path: Path, kind: str) -> Path:
    """Return ``path`` resolved, or raise :class:`FileMissing` / :class:`DataSpecError`."""
    if not path.exists():
        raise FileMissing(str(path), hint=f"{kind}:DIR must name an existing folder")
    if not path.is_dir():
        raise DataSpecError(f"{kind}:{path} is not a directory", hint=f"{kind}:DIR must name a folder")
    return path.resolve()


def read_digits() -> RawData:
    """scikit-learn's bundled digits: 8x8 values 0..16 scaled to uint8 0..255 (``round(v * 255 / 16)``)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    x = np.rint(images * 255.0 / 16.0).clip(0, 255).astype(np.uint8)[..., None]
    y = np.asarray(bunch.target, dtype=np.int64)
    return RawData("digits", tuple(str(i) for i in range(10)), x, y)


def read_cifar10(root: Path) -> RawData:
    """The CIFAR-10 npz chunks: ``cifar10_train_*.npz`` and ``cifar10_test.npz`` with keys x, y, classes."""
    train_files = sorted(root.glob("cifar10_train_*.npz"))
    test_file = root / "cifar10_test.npz"
    if not train_files or not test_file.is_file():
        raise DataSpecError(
            f"cifar10:{root} holds no cifar10_train_*.npz and cifar10_test.npz",
            hint="point cifar10:DIR at the folder with the CIFAR-10 npz chunks",
        )
    parts = [_read_cifar_npz(f) for f in train_files]
    test_x, test_y, classes = _read_cifar_npz(test_file)
    for _, _, c in parts:
        if c != classes:
            raise DataSpecError(
                f"cifar10:{root}: the chunks disagree on the class list", hint="re-fetch them"
            )
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return RawData("cifar10", classes, train_x, train_y, test_x, test_y)


def _read_cifar_npz(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], tuple[str, ...]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            x = np.asarray(z["x"])
            y = np.asarray(z["y"]).astype(np.int64)
            classes = tuple(str(c) for c in z["classes"])
    except (KeyError, ValueError, OSError) as exc:
        raise DataSpecError(
            f"cannot read CIFAR-10 chunk {path}: {exc}", hint="expected keys x, y, classes"
        ) from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3 or y.shape != (x.shape[0],):
        raise DataSpecError(
            f"CIFAR-10 chunk {path} has x {x.dtype} {x.shape}, y {y.shape}",
            hint="expected x uint8 (N, 32, 32, 3) and y (N,)",
        )
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise DataSpecError(f"CIFAR-10 chunk {path} has labels outside 0..{len(classes) - 1}")
    return x, y, classes


def read_fashion_mnist(root: Path) -> RawData:
    """Fashion-MNIST IDX files (gzipped or not) in ``root`` or ``root/FashionMNIST/raw`` or ``root/raw``."""
    folder = _find_fashion_folder(root)
    train_x = _read_idx_images(_idx_file(folder, "train-images-idx3-ubyte"))
    train_y = _read_idx_labels(_idx_file(folder, "train-labels-idx1-ubyte"))
    test_x = _read_idx_images(_idx_file(folder, "t10k-images-idx3-ubyte"))
    test_y = _read_idx_labels(_idx_file(folder, "t10k-labels-idx1-ubyte"))
    for x, y, what in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if len(x) != len(y):
            raise DataSpecError(f"fashion-mnist:{root}: {what} has {len(x)} images but {len(y)} labels")
        if y.size and y.max() >= len(FASHION_CLASSES):
            raise DataSpecError(f"fashion-mnist:{root}: {what} labels exceed 9")
    return RawData("fashionmnist", FASHION_CLASSES, train_x, train_y, test_x, test_y)


def _find_fashion_folder(root: Path) -> Path:
    for folder in (root, root / "FashionMNIST" / "raw", root / "raw"):
        if _has_idx(folder, "train-images-idx3-ubyte"):
            return folder
    raise DataSpecError(
        f"fashion-mnist:{root} holds no train-images-idx3-ubyte.gz",
        hint="point fashion-mnist:DIR at the folder with the four *-ubyte.gz files "
        "or at a root with FashionMNIST/raw",
    )


def _has_idx(folder: Path, stem: str) -> bool:
    return (folder / f"{stem}.gz").is_file() or (folder / stem).is_file()


def _idx_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise DataSpecError(f"fashion-mnist: {folder} lacks {stem}.gz", hint="all four official files are needed")


def _read_idx(path: Path, magic: int, ndim: int) -> tuple[bytes, tuple[int, ...]]:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataSpecError(f"cannot read {path}: {exc}", hint="the file is damaged; fetch it again") from exc
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataSpecError(
            f"{path} is not an IDX file of {ndim} dimension(s)", hint="use the official files"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(dims)):
        raise DataSpecError(f"{path}: header says {dims} but holds {len(raw) - header} bytes")
    return raw[header:], dims


def _read_idx_images(path: Path) -> npt.NDArray[np.uint8]:
    data, dims = _read_idx(path, _IDX_MAGIC_IMAGES, 3)
    return np.frombuffer(data, dtype=np.uint8).reshape(*dims, 1).copy()


def _read_idx_labels(path: Path) -> npt.NDArray[np.int64]:
    data, _ = _read_idx(path, _IDX_MAGIC_LABELS, 1)
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


def read_imagefolder(root: Path) -> RawData:
    """Images in one sub-folder per class; ``root/train`` and ``root/test`` are used when both exist.

    Classes are the sub-folder names, sorted. Images are decoded with Pillow to uint8 RGB, or to
    one-channel L when every image is grayscale. Images whose size differs from the most common
    size are resized to it (bilinear), so the split can be one NHWC array.
    """
    split_dirs = (root / "train", root / "test")
    if all(d.is_dir() for d in split_dirs):
        train_files, classes = _list_images(split_dirs[0])
        test_files, test_classes = _list_images(split_dirs[1])
        if test_classes != classes:
            raise DataSpecError(
                f"imagefolder:{root}: train/ and test/ have different class folders",
                hint=f"train has {list(classes)}, test has {list(test_classes)}",
            )
        x_all, y_all = _decode([*train_files, *test_files])
        n = len(train_files)
        return RawData(root.name, classes, x_all[:n], y_all[:n], x_all[n:], y_all[n:])
    files, classes = _list_images(root)
    x, y = _decode(files)
    return RawData(root.name, classes, x, y)


def _list_images(folder: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for label, d in enumerate(class_dirs):
        files.extend(
            (f, label) for f in sorted(d.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
    if not files:
        raise DataSpecError(
            f"imagefolder:{folder} holds no images in class sub-folders",
            hint="lay it out as DIR/<class>/<image>.png (optionally DIR/train/... and DIR/test/...)",
        )
    return files, tuple(d.name for d in class_dirs)


MAX_IMAGE_PIXELS = 1 << 24  # 16.7 M pixels (4096x4096): far above any model input, far below a bomb


def open_image(path: Path) -> Image.Image:
    """Open ``path`` lazily and refuse it, before decoding, when it has over :data:`MAX_IMAGE_PIXELS`.

    Raises:
        UsageError: unreadable or too large (one line naming the file and the fix).
    """
    from PIL import Image, UnidentifiedImageError

    fix = "resize it to the model's input size first"
    try:
        with warnings.catch_warnings():  # 89-179 M pixels: Pillow warns; we refuse below, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise UsageError(
            f"image {path} has more than {MAX_IMAGE_PIXELS} pixels, the most nnparts decodes", hint=fix
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"cannot decode image {path}: {exc}", hint="use PNG or JPEG files") from None
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise UsageError(
            f"image {path} is {w}x{h} pixels, more than the {MAX_IMAGE_PIXELS} nnparts decodes", hint=fix
        )
    return im


def to_8bit(image: Image.Image, mode: str | None = None) -> npt.NDArray[np.uint8]:
    """``image`` as a uint8 HxW (``L``) or HxWx3 (``RGB``) array; 16-bit grayscale (``I;16*``, and
    ``I`` as Pillow opens 16-bit PNGs) is scaled by 255/65535, not clipped at 255. ``mode`` None:
    ``L`` for 8- and 16-bit grayscale, ``RGB`` for everything else."""
    wide = image.mode.startswith("I;16") or image.mode == "I"
    mode = mode or ("L" if wide or image.mode == "L" else "RGB")
    if wide:
        values = np.asarray(image).astype(np.float64)
        gray = np.rint(values.clip(0, 65535) * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2) if mode == "RGB" else gray
    return np.array(image.convert(mode), dtype=np.uint8)  # a writable copy (torch.from_numpy)


def _decode(files: list[tuple[Path, int]]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    from PIL import Image

    images: list[Image.Image] = []
    for path, _ in files:
        try:
            with open_image(path) as im:
                im.load()
                images.append(im.copy())
        except UsageError as exc:
            raise DataSpecError(exc.message, hint=exc.hint) from None
        except OSError as exc:
            raise DataSpecError(f"cannot decode image {path}: {exc}", hint="remove or fix the file") from exc
    gray = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in images)
    mode = "L" if gray else "RGB"
    size = Counter(im.size for im in images).most_common(1)[0][0]
    arrays = []
    for image in images:
        arr = to_8bit(image, mode)
        if image.size != size:
            arr = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
        arrays.append(arr[..., None] if arr.ndim == 2 else arr)
    x = np.stack(arrays)
    y = np.asarray([label for _, label in files], dtype=np.int64)
    return x, y
