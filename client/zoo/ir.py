"""The nnparts graph IR: a data-only description of a CNN, saved as ``graph.json``.

A module package never ships code or pickles: its network is a list of nodes in topological order,
each naming an operation from a closed set, its inputs, plain attributes and the tensor names of its
parameters (stored in safetensors). :mod:`nnparts.client.zoo.runtime` rebuilds a ``torch.nn.Module``
from it. Ops (attrs in brackets):

- ``conv2d`` [in_channels, out_channels, kernel_size, stride, padding, dilation, groups] params weight, bias?
- ``linear`` [in_features, out_features] params weight, bias?
- ``affine`` per-channel ``x * scale + shift`` (an unfolded BatchNorm) params scale, shift
- ``relu``, ``relu6``, ``identity`` (dropout at inference)
- ``max_pool2d`` / ``avg_pool2d`` [kernel_size, stride, padding, ceil_mode (, dilation | count_include_pad)]
- ``adaptive_avg_pool2d`` / ``adaptive_max_pool2d`` [output_size]
- ``add`` (n inputs), ``cat`` [dim], ``flatten`` [start_dim]
- ``position_mask`` params mask (C, H, W) multiplied onto the input (Pan & Rajan activation maps)
- ``select`` [indices] keeps the listed features of a (N, F) input
- ``ovr_score`` [index] one-vs-rest log-odds of one class from logits: ``z_c - logsumexp(z_j, j != c)``
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nnparts.schemas.errors import GraphError
from nnparts.schemas.graph import check_graph

OPS = frozenset(
    {
        "conv2d",
        "linear",
        "affine",
        "relu",
        "relu6",
        "max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "adaptive_max_pool2d",
        "add",
        "cat",
        "flatten",
        "identity",
        "position_mask",
        "ovr_score",
        "select",
    }
)
PRODUCERS = frozenset({"conv2d", "linear", "affine"})


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)

    def attr(self, key: str) -> Any:
        return self.attrs[key]

    def with_attrs(self, **changes: Any) -> Node:
        return replace(self, attrs={**self.attrs, **changes})

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "op": self.op, "inputs": list(self.inputs)}
        if self.attrs:
            d["attrs"] = dict(self.attrs)
        if self.params:
            d["params"] = dict(self.params)
        return d


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order; ``input_name`` is the image tensor, ``output`` the result node."""

    input_name: str
    input_channels: int
    nodes: tuple[Node, ...]
    output: str

    def __post_init__(self) -> None:
        seen = {self.input_name}
        for node in self.nodes:
            if node.op not in OPS:
                raise GraphError(f"unknown op {node.op!r} in node {node.name!r}")
            if node.name in seen:
                raise GraphError(f"duplicate node name {node.name!r}")
            for src in node.inputs:
                if src not in seen:
                    raise GraphError(f"node {node.name!r} reads {src!r} before it is defined")
            seen.add(node.name)
        if self.output not in seen:
            raise GraphError(f"graph output {self.output!r} is not a node")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def users(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {self.input_name: []}
        for n in self.nodes:
            out.setdefault(n.name, [])
            for src in n.inputs:
                out[src].append(n.name)
        return out

    def param_names(self) -> list[str]:
        return [t for n in self.nodes for t in n.params.values()]

    def with_nodes(self, nodes: list[Node] | tuple[Node, ...], output: str | None = None) -> Graph:
        return Graph(self.input_name, self.input_channels, tuple(nodes), output or self.output)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "input": {"name": self.input_name, "channels": self.input_channels},
            "nodes": [n.to_dict() for n in self.nodes],
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "graph.json") -> Graph:
        check_graph(d, source=source)  # schema, order, attribute bounds
        nodes = tuple(
            Node(n["name"], n["op"], tuple(n["inputs"]), dict(n.get("attrs", {})), dict(n.get("params", {})))
            for n in d["nodes"]
        )
        return cls(d["input"]["name"], int(d["input"]["channels"]), nodes, d["output"])
