"""The composed runtime: shared trunks run once and change nothing; decision rules; stitching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nnparts.client.assemble.runtime import AssembledModel, AssembledPart, fit_stitch
from nnparts.client.extract.channels import analyse_channels, extract, keep_vector, with_fixed_trunk
from nnparts.client.extract.heads import with_ovr_head
from nnparts.client.zoo.cost import graph_cost, infer_shapes
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.trace import trace_model
from nnparts.schemas.errors import UsageError
from nnparts.schemas.manifest import Calibration, InputSpec

SPEC = InputSpec(1, 8, 8, (0.5,), (0.25,))


def _parts(trunk: float, n: int = 3) -> list[AssembledPart]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, n),
    ).eval()
    traced = trace_model(model)
    net = GraphNet(traced.graph, traced.params)
    plan = analyse_channels(traced.graph, infer_shapes(net, 8, 8))
    plan = with_fixed_trunk(plan, traced.graph, graph_cost(net, 8, 8).node_flops, trunk)
    rng = np.random.default_rng(1)
    parts = []
    for c in range(n):
        graph, tensors = extract(
            traced.graph, traced.params, plan, keep_vector(plan, rng.random(plan.n_vars) < 0.6)
        )
        module = GraphNet(with_ovr_head(graph, c), tensors).eval()
        parts.append(
            AssembledPart(module, SPEC, Calibration("temperature", 2.0, 0.5), "ovr_score", (c,), "o" * 64)
        )
    return parts


def test_shared_trunk_runs_once_and_changes_nothing() -> None:
    parts = _parts(trunk=0.4)
    model = AssembledModel(parts, ["a", "b", "c"]).eval()
    assert model.shared_trunk_nodes[0] >= 2
    images = torch.randint(0, 256, (4, 8, 8, 1), dtype=torch.uint8)
    x = (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        separate = torch.cat([p.net(x) / 2.0 + 0.5 for p in parts], dim=1)
        assert torch.allclose(model(images), separate, atol=1e-5)


def test_without_a_trunk_nothing_is_shared() -> None:
    assert AssembledModel(_parts(trunk=0.0), ["a", "b", "c"]).shared_trunk_nodes == [0]


def test_vote_rule_and_abstain() -> None:
    model = AssembledModel(_parts(0.0), ["a", "b", "c"], rule="vote", abstain=0.9)
    scores = torch.tensor([[3.0, -1.0, -2.0], [-3.0, -2.0, -1.0], [0.5, 0.4, -1.0]])
    # one positive vote wins; no vote -> highest; a confident winner is kept, an unsure one abstains
    assert model.decide(scores).tolist() == [0, -1, -1]
    assert AssembledModel(_parts(0.0), ["a", "b", "c"], rule="vote").decide(scores).tolist() == [0, 2, 0]


def test_stitching_head_learns_a_permutation() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (300,), generator=gen)
    scores = torch.nn.functional.one_hot((labels + 1) % 3, 3).float() * 4 - 2  # always one class off
    stitch = fit_stitch(scores, labels)
    assert (stitch.apply(scores).argmax(1) == labels).float().mean() > 0.95


def test_every_class_needs_exactly_one_answer() -> None:
    with pytest.raises(UsageError, match="exactly one"):
        AssembledModel(_parts(0.0)[:2], ["a", "b", "c"])
