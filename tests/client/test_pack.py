"""Module packages: round trip, determinism across processes, integrity, size that follows density."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tiny_nets import TinyNet, randomise_bn

from nnparts.client.pack import load_package, write_package
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model
from nnparts.schemas.errors import IntegrityError
from nnparts.schemas.manifest import Calibration, ClassEntry, InputSpec, MaskInfo, ModuleManifest, Origin

ORIGIN_SHA = "ab" * 32


def manifest_for(module_id: str = "tiny/class-a", density: float = 1.0) -> ModuleManifest:
    return ModuleManifest(
        id=module_id,
        name="a",
        version="1.0.0",
        kind="sub_model",
        origin=Origin("tiny", "tests:TinyNet", ORIGIN_SHA, "synthetic", ("a", "b", "c", "d")),
        classes=(ClassEntry("a", 0, ("alpha",)),),
        method="seam",
        method_params={"alpha": 1.0},
        mask=MaskInfo("weight", density, 100, 100, False),
        metrics={"split": "test", "samples": 10, "overall": {"accuracy": 0.9}},
        input=InputSpec(1, 8, 8, (0.5,), (0.25,)),
        output_type="logits",
        output_size=4,
        calibration=Calibration(),
        graph="graph.json",
        files=(),
        tensors=(),
        license="MIT",
        tool_version="0.1.0",
    )


def _traced() -> tuple[object, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    traced = trace_model(randomise_bn(TinyNet()))
    return traced.graph, traced.params


def test_round_trip_gives_the_same_network(tmp_path: Path) -> None:
    graph, params = _traced()
    write_package(tmp_path / "pkg", manifest_for(), graph, params)  # type: ignore[arg-type]
    loaded = load_package(tmp_path / "pkg")
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.network()(x), GraphNet(graph, params).eval()(x))  # type: ignore[arg-type]
    assert loaded.manifest.classes[0].aliases == ("alpha",)


WRITER = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {helpers!r})
    from test_pack import _traced, manifest_for
    from nnparts.client.pack import write_package
    graph, params = _traced()
    write_package(sys.argv[1], manifest_for(), graph, params)
    """
)


def test_two_processes_write_byte_identical_files(tmp_path: Path) -> None:
    helpers = str(Path(__file__).parents[1] / "helpers")
    script = WRITER.format(tests=str(Path(__file__).parent), helpers=helpers)
    for name in ("one", "two"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True, timeout=120)
    for file in ("manifest.json", "graph.json", "weights.safetensors"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes(), file


def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    graph, params = _traced()
    write_package(tmp_path / "pkg", manifest_for(), graph, params)  # type: ignore[arg-type]
    weights = tmp_path / "pkg" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load_package(tmp_path / "pkg")


def test_file_size_follows_density(tmp_path: Path) -> None:
    graph, params = _traced()
    dense = write_package(tmp_path / "dense", manifest_for(), graph, params)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    sparse_params = {
        k: (v * (torch.rand(v.shape, generator=gen) < 0.1)) if v.dim() > 1 else v for k, v in params.items()
    }
    sparse = write_package(tmp_path / "sparse", manifest_for(density=0.1), graph, sparse_params)  # type: ignore[arg-type]
    dense_bytes = dense.file("weights.safetensors").bytes
    sparse_bytes = sparse.file("weights.safetensors").bytes
    assert sparse_bytes < 0.5 * dense_bytes
    assert any(t.storage == "bitmask" for t in sparse.tensors)
    loaded = load_package(tmp_path / "sparse")
    for name, value in sparse_params.items():
        assert torch.equal(loaded.tensors[name], value.float()), name


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    graph, params = _traced()
    (tmp_path / "pkg").mkdir()
    from nnparts.schemas.errors import UsageError

    with pytest.raises(UsageError, match="already exists"):
        write_package(tmp_path / "pkg", manifest_for(), graph, params)  # type: ignore[arg-type]
