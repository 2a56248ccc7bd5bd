"""SeaM re-engineering: estimator, masks, target problems, steering, extraction, fine-tuning, packages, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tiny_nets import TinyNet, randomise_bn

from nnparts.client.cli._main import main
from nnparts.client.data import load_split
from nnparts.client.extract.base import ExtractSettings, TensorData
from nnparts.client.extract.channels import analyse_channels
from nnparts.client.extract.reengineer_pipeline import reengineer
from nnparts.client.extract.seam import problem_logits, target_problem, task_baselines
from nnparts.client.extract.seam_extract import extract_masked, with_seam_head
from nnparts.client.extract.seam_masks import SeamMasks
from nnparts.client.extract.seam_search import SeamConfig, fine_tune
from nnparts.client.pack.loader import load_package
from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.cost import graph_cost, infer_shapes
from nnparts.client.zoo.origin import save_origin
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model
from nnparts.client.zoo.training import train_classifier
from nnparts.schemas.manifest import InputSpec

DIGITS = InputSpec(1, 8, 8, (0.3,), (0.4,))


def _tiny(granularity: str, seed: int = 0) -> tuple[SeamMasks, torch.Tensor]:
    torch.manual_seed(seed)
    traced = trace_model(randomise_bn(TinyNet(in_channels=1, num_classes=4), seed))
    graph, tensors = with_seam_head(traced.graph, traced.params, 4, 2, seed=seed)
    net = GraphNet(graph, tensors).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    shapes = infer_shapes(net, 8, 8)
    layers = [n.name for n in traced.graph.nodes if n.op in ("conv2d", "linear")]
    plan = analyse_channels(graph, shapes)
    masks = SeamMasks(net, layers, granularity, shapes, plan=plan)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    return masks, x


@pytest.fixture(scope="module")
def digits_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits_cnn trained for a few epochs on the bundled digits (~5 s on 2 cores)."""
    torch.set_num_threads(2)
    train, val = load_split("digits", "train"), load_split("digits", "val")
    torch.manual_seed(0)
    model = build_model("digits_cnn", {})
    train_classifier(model, train, val, DIGITS, epochs=3, lr=0.05, progress=False)
    out = tmp_path_factory.mktemp("origin") / "digits-cnn"
    save_origin(
        model, out, name="digits-cnn", architecture="digits_cnn", arch_kwargs={},
        classes=train.classes, dataset="digits", input_spec=DIGITS,
    )  # fmt: skip
    return out


def test_ste_gradient_is_the_clipped_mask_gradient() -> None:
    masks, _ = _tiny("weight")
    gen = torch.Generator().manual_seed(1)
    m = masks.masks()
    upstream = {name: torch.randn(w.shape, generator=gen) * 3 for name, (w, _) in m.items()}
    loss = sum((w * upstream[name]).sum() for name, (w, _) in m.items())
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    for layer in masks.layers:
        grad = masks.scores[layer.node.replace(".", "__") + "__w"].grad
        assert grad is not None
        assert torch.equal(grad, upstream[layer.node].clamp(-1.0, 1.0))
    assert float(upstream[masks.layers[0].node].abs().max()) > 1  # the clip was exercised


@pytest.mark.parametrize("granularity", ["weight", "kernel", "channel"])
def test_all_ones_mask_reproduces_origin_exactly(granularity: str) -> None:
    masks, x = _tiny(granularity)
    with torch.no_grad():
        assert torch.equal(masks(x, masks.masks(), masks.gates()), masks.net(x))
    assert masks.kept_entries()[0] == masks.kept_entries()[1]


def test_retention_is_differentiable_with_a_constant_push_per_score() -> None:
    masks, _ = _tiny("weight")
    r = masks.retention(masks.masks())
    r.backward()
    _, total = masks.kept_entries()
    assert float(r.detach()) == pytest.approx(1.0)
    for score in masks.scores.values():
        assert score.grad is not None
        assert torch.allclose(score.grad, torch.full_like(score, 1.0 / total))


def test_binary_problem_is_balanced_and_target_is_label_zero() -> None:
    y = torch.tensor([0, 1, 2, 2, 1, 0, 2, 2, 1, 1, 2, 0])
    data = TensorData(torch.arange(12, dtype=torch.float32).view(12, 1, 1, 1), y)
    p = target_problem(data, [2], ["a", "b", "c"])
    assert p.names == ("c", "other")
    assert int((p.data.y == 0).sum()) == 5 and int((p.data.y == 1).sum()) == 5
    originals = y[p.data.x.view(-1).long()]
    assert bool((originals[p.data.y == 0] == 2).all()) and bool((originals[p.data.y == 1] != 2).all())
    rng = np.random.RandomState(0)  # the paper's sampling: numpy seed 0, without replacement
    expected = np.sort(rng.choice(np.flatnonzero(y.numpy() != 2), 5, replace=False))
    assert p.data.x.view(-1).long()[5:].tolist() == expected.tolist()


def test_multiclass_problem_keeps_exactly_the_targets_relabelled() -> None:
    y = torch.tensor([0, 1, 2, 3, 3, 1, 0, 2])
    data = TensorData(torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1), y)
    p = target_problem(data, [3, 1], ["a", "b", "c", "d"])
    assert p.names == ("d", "b")
    originals = y[p.data.x.view(-1).long()]
    assert originals.tolist() == [1, 3, 3, 1]
    assert p.data.y.tolist() == [1, 0, 0, 1]
    logits = torch.zeros(4, 4)
    logits[:, 0] = 5.0  # argmax over all classes says "a" (a miss); restricted picks among d, b
    logits[torch.arange(4), originals] = 1.0
    base = task_baselines(logits, p)
    assert base["paper"] == 0.0 and base["restricted"] == 1.0


@pytest.mark.parametrize("granularity", ["weight", "kernel", "channel"])
def test_extraction_matches_the_masked_model_with_fewer_flops(granularity: str) -> None:
    masks, x = _tiny(granularity, seed=3)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, s in masks.scores.items():
            s.copy_(torch.rand(s.shape, generator=gen) - (0.3 if granularity == "channel" else 0.6))
            if name.endswith("__w") and s.dim() == 4:
                s[:2] = -1.0  # whole rows pruned in every conv: those channels must go
        for layer in masks.layers:  # ... once their biases (never masked) are zero too
            bias = masks.net.layers[layer.node.replace(".", "__")].bias
            if granularity != "channel" and bias is not None and len(layer.weight_shape) == 4:
                bias[:2] = 0.0
    graph = masks.net.graph
    with torch.no_grad():
        masked = masks(x, masks.masks(detach=True), masks.gates(detach=True))
    assert masks.plan is not None
    small_graph, small, removed = extract_masked(graph, masks.hard_tensors(), masks.plan)
    small_net = GraphNet(small_graph, small).eval()
    with torch.no_grad():
        assert torch.allclose(small_net(x), masked, atol=1e-5)
    assert removed > 0
    full = graph_cost(masks.net, 8, 8)
    assert graph_cost(small_net, 8, 8).flops < full.flops


@pytest.mark.parametrize("extra", [{}, {"augment_pad": 1, "augment_flip": True}])
def test_fine_tune_keeps_pruned_weights_at_zero(extra: dict[str, object]) -> None:
    masks, x = _tiny("weight", seed=5)
    gen = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for s in masks.scores.values():
            s.copy_(torch.rand(s.shape, generator=gen) - 0.5)
    before = masks.hard_tensors()
    y = torch.randint(0, 2, (16,), generator=gen)
    data = TensorData(x, y)
    cfg = SeamConfig(**{"fine_tune_epochs": 3, "lr_fine_tune": 0.05, "batch": 8, **extra})  # type: ignore[arg-type]
    fine_tune(masks, data, data, cfg)
    after = masks.hard_tensors()
    changed = 0
    for layer in masks.layers:
        name = masks.net.graph.node(layer.node).params["weight"]
        pruned = before[name] == 0
        assert bool((after[name][pruned] == 0).all())
        changed += int((after[name][~pruned] != before[name][~pruned]).sum())
    assert changed > 0  # the kept weights did train (unless val never improved: then nothing may move)


@pytest.mark.parametrize("granularity", ["weight", "kernel", "channel"])
@pytest.mark.parametrize("goal", [0.8, 0.3, 0.1])
def test_steer_to_keeps_at_most_the_goal_and_close_to_it(granularity: str, goal: float) -> None:
    masks, _ = _tiny(granularity, seed=3)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for s in masks.scores.values():
            s.copy_(torch.rand(s.shape, generator=gen))
    floor = masks.steer_to(0.0)  # what is left with every free unit cut (fixed channels stay)
    reached = masks.steer_to(goal)
    assert reached == pytest.approx(masks.hard_retention())
    assert reached <= max(goal, floor) + 1e-6  # float32 sums
    slack = 0.02 if granularity == "weight" else 0.15  # coarser units cannot hit every value
    assert reached >= goal - slack
    assert masks.steer_to(1.0) == 1.0  # and back: every entry kept


def test_erk_densities_meet_the_goal_and_favour_small_layers() -> None:
    masks, _ = _tiny("weight")
    dens = masks.erk_densities(0.2)
    sizes = [np.prod(layer.weight_shape) for layer in masks.layers]
    assert sum(d * n for d, n in zip(dens, sizes, strict=True)) / sum(sizes) == pytest.approx(0.2, abs=1e-6)
    by_size = sorted(zip(sizes, dens, strict=True))
    assert by_size[0][1] > by_size[-1][1]  # the smallest layer keeps a larger share than the largest
    assert all(0 < d <= 1 for d in dens)


def test_biases_are_never_masked_and_retention_counts_weights_only() -> None:
    masks, _ = _tiny("weight", seed=2)
    assert all(name.endswith("__w") for name in masks.scores)
    masks.steer_to(0.1)
    kept, total = masks.kept_entries()
    assert total == sum(np.prod(layer.weight_shape) for layer in masks.layers)
    assert kept / total == pytest.approx(masks.hard_retention())
    net_tensors, hard = masks.net.state_tensors(), masks.hard_tensors()
    biases = [n for n in hard if n.endswith(".bias")]
    assert biases and all(torch.equal(hard[n], net_tensors[n]) for n in biases)


@pytest.mark.parametrize("granularity", ["weight", "kernel"])
def test_global_allocation_uses_one_threshold_and_meets_the_goal(granularity: str) -> None:
    masks, _ = _tiny(granularity, seed=3)
    masks.allocation = "global"
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for s in masks.scores.values():
            s.copy_(torch.rand(s.shape, generator=gen) * 3)
    reached = masks.steer_to(0.25)
    assert len(set(masks.thresholds.values())) == 1
    assert 0.25 - 0.03 <= reached <= 0.25 + 1e-9
    scores = {k: s.detach() for k, s in masks.scores.items()}
    kept_scores = [s[s > masks.thresholds[k]] for k, s in scores.items()]
    cut_scores = [s[s <= masks.thresholds[k]] for k, s in scores.items()]
    assert float(torch.cat(kept_scores).min()) > float(torch.cat(cut_scores).max())
    densities = {k: float((s > masks.thresholds[k]).float().mean()) for k, s in scores.items()}
    assert max(densities.values()) - min(densities.values()) < 0.5  # uniform random scores: similar shares


def test_magnitude_init_ranks_each_layer_by_weight_size() -> None:
    torch.manual_seed(0)
    traced = trace_model(randomise_bn(TinyNet(in_channels=1, num_classes=4), 0))
    net = GraphNet(traced.graph, traced.params).eval()
    layers = [n.name for n in traced.graph.nodes if n.op in ("conv2d", "linear")]
    masks = SeamMasks(net, layers, "weight", infer_shapes(net, 8, 8), init="magnitude")
    for layer in masks.layers:
        w = net.layers[layer.node.replace(".", "__")].weight.detach().abs()
        s = masks.scores[layer.node.replace(".", "__") + "__w"].detach()
        assert float(s.mean()) == pytest.approx(1.0, rel=1e-5)
        assert torch.equal(s.flatten().argsort(), w.flatten().argsort())


def test_retention_steering_lands_near_the_target(digits_origin: Path, tmp_path: Path) -> None:
    settings = ExtractSettings(progress=False, params={"batch": 32})
    written = reengineer(
        digits_origin, "digits", tmp_path / "steer", targets=["3"], granularity="weight",
        target_retention=0.3, lr_mask=0.1, epochs=15, settings=settings, measure_latency=False,
    )  # fmt: skip
    density = written.manifest.mask.density
    assert 0.15 <= density <= 0.3 + 0.015


def test_package_round_trips_and_file_size_follows_density(digits_origin: Path, tmp_path: Path) -> None:
    written = reengineer(
        digits_origin, "digits", tmp_path / "pkg", targets=["3", "5", "8"], granularity="kernel",
        target_retention=0.4, lr_mask=0.1, epochs=6, settings=ExtractSettings(progress=False),
    )  # fmt: skip
    m = written.manifest
    assert m.kind == "sub_model" and m.method == "seam" and m.output_size == 3
    assert [c.name for c in m.classes] == ["3", "5", "8"]
    assert 0 <= m.metrics["overall"]["accuracy"] <= 1
    assert set(m.metrics["origin"]) >= {"accuracy_paper", "accuracy_restricted"}
    assert m.metrics["latency"]["sub_model"]["batch_64_ms"] > 0
    loaded = load_package(written.path)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(
            loaded.network()(x), GraphNet(written_graph(written.path), loaded.tensors).eval()(x)
        )
    dense = sparse = 0
    for entry in loaded.manifest.tensors:
        t = loaded.tensors[entry.name]
        dense += t.numel() * 4
        nnz = int(torch.count_nonzero(t))
        sparse += (t.numel() + 7) // 8 + nnz * 4 if entry.storage == "bitmask" else t.numel() * 4
    weights = loaded.manifest.file("weights.safetensors").bytes
    assert any(e.storage == "bitmask" for e in loaded.manifest.tensors)
    assert sparse <= weights <= sparse + 8192  # + the safetensors header
    assert weights < 0.75 * dense


def written_graph(path: Path) -> object:
    return load_package(path).graph


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--target", "nope"], "nope"),
        (["--target", "3", "--granularity", "neuron"], "granularity"),
        (["--target", "3", "--target-retention", "1.5"], "retention"),
        (["--target", "3,", "--epochs", "2"], "comma-separated"),
        (["--target", "3", "--augment", "rotate"], "rotate"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    digits_origin: Path, tmp_path: Path, extra: list[str], needle: str
) -> None:
    args = ["reengineer", str(digits_origin), "--data", "digits", "--out", str(tmp_path / "o"), "-q", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0]


def test_problem_logits_are_the_origins_view_of_the_target_problem() -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.zeros(6, 1, 2, 2)
    logits = torch.randn(6, 4, generator=gen) * 3
    names = ["a", "b", "c", "d"]
    binary = target_problem(TensorData(x, torch.tensor([2, 0, 1, 2, 3, 0])), [2], names, seed=0)
    two = problem_logits(logits, binary)
    p = torch.softmax(logits, 1)[:, 2]
    assert torch.allclose(torch.softmax(two, 1), torch.stack([p, 1 - p], 1), atol=1e-6)
    multi = target_problem(TensorData(x, torch.tensor([3, 1, 3, 1, 0, 2])), [3, 1], names)
    assert torch.equal(problem_logits(logits, multi), logits[:, [3, 1]])


def test_fisher_channels_keep_an_equal_share_of_the_most_important_channels_within_the_goal() -> None:
    from nnparts.client.extract import seam_channels
    from nnparts.client.extract.importance import variable_groups

    masks, x = _tiny("channel", seed=7)
    masks.cost = "params"
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(8))
    data = TensorData(x, y)
    cfg = SeamConfig(target_retention=0.7, batch=8, lr_head=0.05)
    seen: list[torch.Tensor] = []
    real = seam_channels.fisher_importance

    def spy(*args: object, **kwargs: object) -> torch.Tensor:
        seen.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    seam_channels.fisher_importance = spy  # type: ignore[assignment]
    try:
        result = seam_channels.fisher_channels(masks, "seam_head.fc", data, data, cfg)
    finally:
        seam_channels.fisher_importance = real
    assert masks.plan is not None and len(seen) == 1
    reached = masks.hard_retention()
    assert 0.6 <= reached <= 0.7 + 1e-6 and result.selected.retention == pytest.approx(reached, abs=1e-6)
    keep = masks.snapshot()["vars"].numpy()
    importance = seen[0].numpy()
    groups = variable_groups(masks.plan)
    shares = [keep[g].mean() for g in groups if len(g) > 1]
    assert max(shares) - min(shares) <= 0.5 and 0 < min(shares) < 1
    for g in groups:  # each group keeps its most important channels
        kept, cut = importance[g][keep[g]], importance[g][~keep[g]]
        if len(kept) and len(cut):
            assert kept.min() >= cut.max()


def test_channel_sub_model_is_chosen_by_fisher_and_physically_smaller(
    digits_origin: Path, tmp_path: Path
) -> None:
    written = reengineer(
        digits_origin, "digits", tmp_path / "ch", targets=["3"], granularity="channel", cost="flops",
        target_retention=0.5, epochs=1, fine_tune=True, settings=ExtractSettings(progress=False),
        measure_latency=False,
    )  # fmt: skip
    m = written.manifest
    assert m.method_params["selection"] == "fisher"
    assert m.mask.physically_smaller and m.mask.flops_after is not None and m.mask.flops_before is not None
    assert m.mask.flops_after <= 0.5 * m.mask.flops_before * 1.02
