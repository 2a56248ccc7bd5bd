"""Trunk + tails: cut points on traced graphs, exact stacking of tails, and the width profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_nets import TinyNet, randomise_bn

from nnparts.client.extract.channels import analyse_channels, extract, keep_vector
from nnparts.client.extract.importance import (
    keep_top,
    ratio_for_flops,
    variable_groups,
    width_profile,
    widths,
)
from nnparts.client.zoo.architectures import build_model
from nnparts.client.zoo.cost import graph_cost
from nnparts.client.zoo.graph_cut import choose_cut, cut_points, split_at
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.stacked import stack, stackable, unstack_tensors
from nnparts.client.zoo.trace import trace_model
from nnparts.schemas.errors import GraphError, UsageError
from nnparts.schemas.manifest import InputSpec

DIGITS = InputSpec(1, 8, 8, (0.3,), (0.4,))


def _resnet() -> GraphNet:
    torch.manual_seed(0)
    model = randomise_bn(build_model("cifar_resnet20", {"num_classes": 5, "in_channels": 3}))
    traced = trace_model(model)
    return GraphNet(traced.graph, traced.params).eval()


def test_cut_points_are_the_block_outputs_of_a_resnet() -> None:
    net = _resnet()
    cuts = cut_points(net.graph)
    assert "layer2.2.relu2" in cuts and "layer1.0.relu2" in cuts
    # inside a residual block the input is still live: no cut there
    assert "layer2.1.conv1" not in cuts and "layer3.0.relu1" not in cuts
    cost = graph_cost(net, 16, 16)
    assert choose_cut(net.graph, cost.node_flops, 0.7) == "layer2.2.relu2"
    assert choose_cut(net.graph, cost.node_flops, 0.0) is None


def test_cut_points_skip_open_branches() -> None:
    traced = trace_model(randomise_bn(TinyNet()))
    cuts = cut_points(traced.graph)
    names = [n.name for n in traced.graph.nodes]
    # the residual add closes the branch that starts at the stem: nothing between is a cut
    add = next(n.name for n in traced.graph.nodes if n.op == "add")
    assert all(names.index(c) >= names.index(add) or names.index(c) < 2 for c in cuts)
    with pytest.raises(GraphError, match="not a cut point"):
        split_at(traced.graph, names[names.index(add) - 1], 8, {})


def _tails(net: GraphNet, k: int) -> tuple[list, list, torch.Tensor]:  # type: ignore[type-arg]
    cost = graph_cost(net, 16, 16)
    split = split_at(net.graph, "layer2.2.relu2", cost.shapes["layer2.2.relu2"][0], cost.node_flops)
    tensors = net.state_tensors()
    tail_tensors = {t: tensors[t] for t in split.tail.param_names()}
    tail_cost = graph_cost(GraphNet(split.tail, tail_tensors), 8, 8)
    plan = analyse_channels(split.tail, tail_cost.shapes)
    groups = variable_groups(plan)
    counts = widths(groups, 0.4)
    graphs, weights = [], []
    for i in range(k):
        score = torch.rand(plan.n_vars, generator=torch.Generator().manual_seed(i))
        g, t = extract(split.tail, tail_tensors, plan, keep_top(plan, groups, counts, score))
        graphs.append(g)
        weights.append(t)
    trunk = GraphNet(split.trunk, {t: tensors[t] for t in split.trunk.param_names()}).eval()
    return graphs, weights, trunk(torch.randn(6, 3, 16, 16))


def test_stacked_tails_compute_exactly_what_each_tail_computes() -> None:
    graphs, weights, features = _tails(_resnet(), 3)
    assert stackable(graphs, weights)
    stacked = stack(graphs, weights)
    joined = GraphNet(stacked.graph, stacked.tensors).eval()
    with torch.no_grad():
        together = joined(features)
        alone = torch.cat([GraphNet(g, t).eval()(features) for g, t in zip(graphs, weights, strict=True)], 1)
    assert together.shape == alone.shape == (6, 15)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    convs = [n for n in stacked.graph.nodes if n.op == "conv2d" and n.inputs[0] != stacked.graph.input_name]
    assert convs and all(int(n.attrs["groups"]) == 3 for n in convs)


def test_unstack_inverts_stack() -> None:
    graphs, weights, _ = _tails(_resnet(), 2)
    stacked = stack(graphs, weights)
    back = unstack_tensors(stacked.tensors, graphs, weights)
    for mine, original in zip(back, weights, strict=True):
        assert mine.keys() == original.keys()
        for name in mine:
            assert torch.equal(mine[name], original[name])


def test_tails_of_different_widths_do_not_stack() -> None:
    net = _resnet()
    graphs, weights, _ = _tails(net, 1)
    cost = graph_cost(net, 16, 16)
    split = split_at(net.graph, "layer2.2.relu2", 32, cost.node_flops)
    tensors = net.state_tensors()
    full = {t: tensors[t] for t in split.tail.param_names()}
    assert not stackable([graphs[0], split.tail], [weights[0], full])
    with pytest.raises(GraphError, match="identical structure"):
        stack([graphs[0]], [weights[0]])


def test_width_profile_is_the_same_for_every_class() -> None:
    net = _resnet()
    cost = graph_cost(net, 16, 16)
    plan = analyse_channels(net.graph, cost.shapes)
    groups = variable_groups(plan)
    counts = widths(groups, 0.5)
    kept = []
    for seed in range(3):
        score = torch.rand(plan.n_vars, generator=torch.Generator().manual_seed(seed))
        keep = keep_top(plan, groups, counts, score)
        kept.append(keep)
        assert [int(keep[g].sum()) for g in groups] == counts
    assert not all(np.array_equal(kept[0], k) for k in kept[1:])  # each class its own channels


def test_aligned_width_profile_keeps_multiples_of_8_and_fills_the_goal() -> None:
    net = _resnet()
    plan = analyse_channels(net.graph, graph_cost(net, 16, 16).shapes)
    groups = variable_groups(plan)

    def share(keep: np.ndarray) -> float:  # any cost that grows with the kept channels
        return float(keep[~plan.fixed].mean())

    goal = 0.37
    plain = width_profile(plan, groups, share, goal)
    assert plain == widths(groups, ratio_for_flops(plan, groups, share, goal))
    assert any(n % 8 for n, g in zip(plain, groups, strict=True) if len(g) >= 8)
    aligned = width_profile(plan, groups, share, goal, align=8)
    assert all(n % 8 == 0 for n, g in zip(aligned, groups, strict=True) if len(g) >= 8)

    def cost(counts: list[int]) -> float:
        keep = np.zeros(plan.n_vars, dtype=bool)
        for g, n in zip(groups, counts, strict=True):
            keep[g[:n]] = True
        return share(keep_vector(plan, keep))

    assert cost(aligned) <= goal
    for i, g in enumerate(groups):  # filled: no group can take 8 more channels within the goal
        if len(g) >= 8 and aligned[i] + 8 <= len(g):
            assert cost([n + 8 if j == i else n for j, n in enumerate(aligned)]) > goal


# -- end to end on the bundled digits: packages, assembly, standalone --------------------------------

DIGITS_FAST = {
    "tail_epochs": 0.5,
    "trunk_epochs": 0.2,
    "augment": "crop",
    "trunk_goal": 0.6,
    "tail_goal": 0.3,
}


@pytest.fixture(scope="module")
def digits_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nnparts.client.data import load_split
    from nnparts.client.zoo.origin import save_origin
    from nnparts.client.zoo.training import train_classifier

    classes = ("0", "1", "2", "3")
    torch.manual_seed(0)
    model = build_model("digits_cnn", {"num_classes": 4, "in_channels": 1})
    train = load_split("digits", "train").select_classes(classes)
    val = load_split("digits", "val").select_classes(classes)
    train_classifier(model, train, val, DIGITS, epochs=4, lr=0.05, batch_size=64, progress=False)
    out = tmp_path_factory.mktemp("trunk") / "origin"
    save_origin(
        model,
        out,
        name="digits-0to3",
        architecture="digits_cnn",
        arch_kwargs={"num_classes": 4, "in_channels": 1},
        classes=classes,
        dataset="digits",
        input_spec=DIGITS,
    )
    return out


def test_assembly_runs_the_trunk_once_and_matches_each_module(digits_origin: Path, tmp_path: Path) -> None:
    from nnparts.client.assemble import assemble_paths, load_assembly
    from nnparts.client.data import load_split
    from nnparts.client.data.transforms import to_tensor
    from nnparts.client.extract.base import ExtractSettings
    from nnparts.client.extract.calibrate import calibrated
    from nnparts.client.extract.pipeline import decompose
    from nnparts.client.pack import load_package

    settings = ExtractSettings(progress=False, params=DIGITS_FAST)
    written = decompose(digits_origin, "digits", tmp_path / "m", settings=settings)
    assert [w.manifest.kind for w in written] == ["trunk"] + ["class_module"] * 4
    tails = [w.path for w in written[1:]]
    model = load_assembly(assemble_paths(tails, tmp_path / "asm")).model()
    assert [g.stacked for g in model.trunk_groups] == [[4]]  # one trunk, four tails in one block
    images = torch.from_numpy(load_split("digits", "test").x[:32].copy())
    with torch.no_grad():
        together = model.scores(images)
        alone = []
        for path in tails:
            loaded = load_package(path)
            raw = loaded.network()(to_tensor(images, loaded.manifest.input)).view(-1)
            alone.append(calibrated(raw, loaded.manifest.calibration))
    torch.testing.assert_close(together, torch.stack(alone, 1), rtol=1e-4, atol=1e-4)
    # each class alone costs the trunk plus its tail; the tails are physically smaller
    for w in written[1:]:
        m = w.manifest
        assert m.mask.flops_after == m.metrics["cost"]["trunk_flops"] + m.metrics["cost"]["tail_flops"]
        assert m.mask.flops_after < m.mask.flops_before


def test_standalone_modules_need_no_trunk(digits_origin: Path, tmp_path: Path) -> None:
    from nnparts.client.extract.base import ExtractSettings
    from nnparts.client.extract.pipeline import decompose
    from nnparts.client.pack import load_package

    params = DIGITS_FAST | {"trunk_fraction": None, "tail_goal": 0.5, "reconstruct_tails": True}
    written = decompose(
        digits_origin,
        "digits",
        tmp_path / "m",
        classes=["1", "3"],
        settings=ExtractSettings(progress=False, params=params),
    )
    assert [w.manifest.kind for w in written] == ["class_module"] * 2
    for w in written:
        assert w.manifest.requires == () and load_package(w.path).trunk is None
        assert (w.manifest.mask.flops_after or 0) < (w.manifest.mask.flops_before or 0)
    assert not (tmp_path / "m" / "trunk").exists()


def test_a_cached_teacher_trunk_distils_from_logits_of_flipped_copies(
    digits_origin: Path, tmp_path: Path
) -> None:
    import math

    from nnparts.client.data import load_split
    from nnparts.client.extract.base import ExtractSettings
    from nnparts.client.extract.pipeline import decompose

    params = DIGITS_FAST | {"trunk_teacher": "cached", "augment": "flip"}
    written = decompose(
        digits_origin, "digits", tmp_path / "m", settings=ExtractSettings(progress=False, params=params)
    )
    trunk = written[0].manifest
    assert trunk.kind == "trunk" and trunk.method_params["trunk_teacher"] == "cached"
    # the fixed images are the training split and its mirror: twice the steps of the same epochs
    n = len(load_split("digits", "train").select_classes(("0", "1", "2", "3")).y)
    tuned = trunk.metrics["selection"]["selection"]["trunk"]["fine_tune"]
    assert tuned["steps"] == math.ceil(DIGITS_FAST["trunk_epochs"] * 2 * n / 128)
    for bad in ({"feature_weight": 1.0}, {"trunk_teacher": "sometimes"}):
        with pytest.raises(UsageError, match="trunk_teacher"):
            decompose(
                digits_origin,
                "digits",
                tmp_path / "bad",
                settings=ExtractSettings(progress=False, params=params | bad),
            )
    assert not (tmp_path / "bad").exists()


def test_refitting_a_pruned_trunk_brings_its_output_back_towards_the_origin() -> None:
    from nnparts.client.extract.channels import with_fixed_residuals
    from nnparts.client.extract.reconstruct import kept_indices, reconstruct

    net = _resnet()
    cost = graph_cost(net, 16, 16)
    plan = with_fixed_residuals(analyse_channels(net.graph, cost.shapes), net.graph)
    groups = variable_groups(plan)
    score = torch.rand(plan.n_vars, generator=torch.Generator().manual_seed(0))
    keep = keep_top(plan, groups, widths(groups, 0.5), score)
    small_graph, small = extract(net.graph, net.state_tensors(), plan, keep)
    pruned = GraphNet(small_graph, small).eval()
    cut = "layer2.2.relu2"
    trunk = [n.name for n in split_at(net.graph, cut, 32, cost.node_flops).trunk.nodes]
    images = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(1))

    def error() -> float:
        with torch.no_grad():
            s, t = pruned.run_values(images, stop_after=cut)[cut], net.run_values(images, stop_after=cut)[cut]
        return float(((s - t) ** 2).sum() / (t**2).sum())

    before = error()
    report = reconstruct(pruned, net, kept_indices(plan, keep), trunk, images, batch=16)
    assert before > 0.05  # pruning half the inner channels moved the cut's features
    assert error() < 0.5 * before
    refitted = [r["node"] for r in report]
    assert "layer1.0.conv2" in refitted and not any(n.startswith("layer3") for n in refitted)
    assert all(r["error_after"] <= r["error_before"] + 1e-3 for r in report)
    # the refit changes weights only, never a shape: the pruned graph stays the same
    assert {k: v.shape for k, v in pruned.state_tensors().items()} == {k: v.shape for k, v in small.items()}
