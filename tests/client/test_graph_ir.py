"""The graph IR: tracing reproduces the model, extraction is exact, unsupported ops are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from tiny_nets import TinyNet, randomise_bn
from torch import nn

from nnparts.client.extract.channels import analyse_channels, extract, keep_vector
from nnparts.client.zoo.cost import graph_cost, infer_shapes
from nnparts.client.zoo.ir import Graph
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model
from nnparts.schemas.errors import UnsupportedOperation


def _check_exact_extraction(model: nn.Module, size: int, max_ratio: float, seed: int = 0) -> float:
    model = randomise_bn(model, seed)
    traced = trace_model(model)
    net = GraphNet(traced.graph, traced.params).eval()
    x = torch.randn(2, traced.graph.input_channels, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-5), "tracing + BN folding changed the outputs"
    plan = analyse_channels(traced.graph, infer_shapes(net, size, size))
    rng = np.random.default_rng(seed)
    keep = keep_vector(plan, rng.random(plan.n_vars) < 0.5)
    graph, tensors = extract(traced.graph, traced.params, plan, keep)
    small = GraphNet(graph, tensors).eval()
    with torch.no_grad():
        masked = net.run(x, gates=plan.gates(torch.as_tensor(keep, dtype=torch.float32)))
        assert torch.allclose(small(x), masked, atol=1e-5), "extracted module differs from the masked model"
    ratio = graph_cost(small, size, size).flops / graph_cost(net, size, size).flops
    assert ratio < max_ratio
    return ratio


def test_tiny_net_with_every_op() -> None:
    # the grouped conv pins its input stream, so only the branch, head and hidden layer can shrink
    _check_exact_extraction(TinyNet(), 8, max_ratio=0.999)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "vgg11_bn", "mobilenet_v2"])
def test_torchvision_models_extract_exactly(name: str) -> None:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=10)
    _check_exact_extraction(model, 32, max_ratio=0.6)


def test_all_ones_mask_reproduces_the_origin() -> None:
    model = randomise_bn(TinyNet())
    traced = trace_model(model)
    net = GraphNet(traced.graph, traced.params).eval()
    plan = analyse_channels(traced.graph, infer_shapes(net, 8, 8))
    graph, tensors = extract(traced.graph, traced.params, plan, np.ones(plan.n_vars, dtype=bool))
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(GraphNet(graph, tensors).eval()(x), net(x))


def test_residual_channels_are_tied() -> None:
    traced = trace_model(randomise_bn(TinyNet()))
    net = GraphNet(traced.graph, traced.params)
    plan = analyse_channels(traced.graph, infer_shapes(net, 8, 8))
    add = next(n for n in traced.graph if n.op == "add")
    for src in add.inputs:
        assert list(plan.tensor_vars[src]) == list(plan.tensor_vars[add.name])
    logits = plan.tensor_vars[traced.graph.output]
    assert plan.fixed[logits].all(), "the logits must never be pruned"


def test_graph_json_round_trip() -> None:
    traced = trace_model(randomise_bn(TinyNet()))
    doc = traced.graph.to_dict()
    assert Graph.from_dict(doc) == traced.graph


class _Odd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


class _OddModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def test_unsupported_operations_are_named_with_their_place() -> None:
    with pytest.raises(UnsupportedOperation, match=r"'sigmoid' at sigmoid"):
        trace_model(_Odd())
    with pytest.raises(UnsupportedOperation, match=r"'GELU' at act"):
        trace_model(_OddModule())


@pytest.mark.parametrize("goal", [0.9, 0.6, 0.3])
def test_flops_steering_threshold_keeps_at_most_the_goal(goal: float) -> None:
    from nnparts.client.extract.decompose_channel import FlopsModel, steer_threshold
    from nnparts.client.extract.steering import cubic_goal

    traced = trace_model(randomise_bn(TinyNet(in_channels=1, num_classes=4), 0))
    net = GraphNet(traced.graph, traced.params).eval()
    cost = graph_cost(net, 8, 8)
    plan = analyse_channels(traced.graph, cost.shapes)
    flops = FlopsModel(traced.graph, plan, cost)
    fixed = torch.as_tensor(plan.fixed)
    scores = torch.rand(plan.n_vars, generator=torch.Generator().manual_seed(1))

    def ratio(t: float) -> float:
        return float(flops.ratio(torch.where(fixed, torch.ones_like(scores), (scores > t).float())))

    floor = ratio(float(scores.max()))  # every free channel cut
    t = steer_threshold(scores, fixed, flops, goal)
    assert ratio(t) <= max(goal, floor) + 1e-9
    # the threshold is the lowest such: letting the next channel back in would exceed the goal
    below = scores[scores <= t]
    if len(below) and ratio(t) < 1.0:
        assert ratio(float(below.max()) - 1e-6) > goal
    assert steer_threshold(scores, fixed, flops, 1.0) < float(scores.min())
    assert cubic_goal(goal, 0, 10) == 1.0 and cubic_goal(goal, 10, 10) == goal
