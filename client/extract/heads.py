"""Output heads appended to a traced origin graph."""

from __future__ import annotations

import torch

from nnparts.client.zoo.ir import Graph, Node

OVR_NODE = "ovr_score"


def with_ovr_head(graph: Graph, class_index: int) -> Graph:
    """Append ``ovr_score``: the one-vs-rest log-odds of one origin class from the logits."""
    node = Node(OVR_NODE, "ovr_score", (graph.output,), {"index": int(class_index)})
    return graph.with_nodes([*graph.nodes, node], OVR_NODE)


def ovr_scores(logits: torch.Tensor) -> torch.Tensor:
    """All classes' one-vs-rest log-odds at once: ``z_c - logsumexp(z_j, j != c)`` (N, K)."""
    k = logits.shape[1]
    eye = torch.eye(k, dtype=torch.bool, device=logits.device)
    others = logits.unsqueeze(1).expand(-1, k, -1).masked_fill(eye.unsqueeze(0), float("-inf"))
    return logits - torch.logsumexp(others, dim=2)
