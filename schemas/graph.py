"""Torch-free checks of a ``graph.json`` document: structure, attributes, bounds and tensor shapes.

A registry is never trusted, so a graph is checked before anything is built from it: it validates
against ``graph.schema.json``; nodes are in topological order with unique names and inputs that are
defined before use (no cycles, nothing dangling); every op's attributes have the right type and lie
within :data:`MAX_DIM`; and the tensor shape each op implies for its parameters is computed here
(:func:`param_shapes`) so the loader can compare it with the manifest's ``tensors`` *before* it
allocates a single layer. Cost: one pass over the nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nnparts.schemas.errors import GraphError
from nnparts.schemas.validate import validate

#: the largest channel count, feature count, kernel size, stride ... a graph may declare
MAX_DIM = 1 << 16
#: the most parameters (elements) one graph may declare in all
MAX_PARAMS = 1 << 31

_INT_ATTRS: dict[str, tuple[str, ...]] = {
    "conv2d": ("in_channels", "out_channels", "groups"),
    "linear": ("in_features", "out_features"),
    "affine": ("channels",),
    "ovr_score": ("index",),
}
_PAIR_ATTRS: dict[str, tuple[str, ...]] = {
    "conv2d": ("kernel_size", "stride", "padding", "dilation"),
    "max_pool2d": ("kernel_size", "stride", "padding"),
    "avg_pool2d": ("kernel_size", "stride", "padding"),
}
_ZERO_OK = {"padding", "index"}


def _where(node: Mapping[str, Any]) -> str:
    return f"node {node.get('name')!r} ({node.get('op')})"


def _int(node: Mapping[str, Any], key: str, value: Any) -> int:
    low = 0 if key in _ZERO_OK else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DIM:
        raise GraphError(
            f"{_where(node)}: {key} must be an integer in [{low}, {MAX_DIM}], got {value!r}",
            hint="the graph.json is damaged or hostile; do not use this package",
        )
    return value


def _pair(node: Mapping[str, Any], key: str, value: Any) -> list[int]:
    items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, list) or len(items) != 2:
        raise GraphError(f"{_where(node)}: {key} must be an integer or a pair, got {value!r}")
    return [_int(node, key, v) for v in items]


def check_attrs(node: Mapping[str, Any]) -> None:
    """Raise :class:`GraphError` unless ``node``'s attributes are well typed and within bounds."""
    op, attrs = node.get("op"), node.get("attrs", {})
    for key in _INT_ATTRS.get(str(op), ()):
        if key not in attrs:
            raise GraphError(f"{_where(node)} lacks attribute {key!r}")
        _int(node, key, attrs[key])
    for key in _PAIR_ATTRS.get(str(op), ()):
        if key in attrs:
            _pair(node, key, attrs[key])
        elif op == "conv2d" or key == "kernel_size":
            raise GraphError(f"{_where(node)} lacks attribute {key!r}")
    if op == "conv2d" and attrs["in_channels"] % attrs["groups"]:
        raise GraphError(f"{_where(node)}: in_channels {attrs['in_channels']} is not a multiple of groups")
    if op in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        _pair(node, "output_size", attrs.get("output_size"))
    if op == "select":
        indices = attrs.get("indices")
        if not isinstance(indices, list) or len(indices) > MAX_DIM:
            raise GraphError(f"{_where(node)}: indices must be a list of at most {MAX_DIM} integers")
        for i in indices:
            _int(node, "index", i)


def param_shapes(nodes: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, ...]]:
    """The shape every parameter tensor must have, from the op attributes (nodes already checked)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for node in nodes:
        a, p = node.get("attrs", {}), node.get("params", {})
        op = node["op"]
        if op == "conv2d":
            k = _pair(node, "kernel_size", a["kernel_size"])
            cout = int(a["out_channels"])
            want = {"weight": (cout, int(a["in_channels"]) // int(a["groups"]), *k), "bias": (cout,)}
        elif op == "linear":
            want = {
                "weight": (int(a["out_features"]), int(a["in_features"])),
                "bias": (int(a["out_features"]),),
            }
        elif op == "affine":
            want = {"scale": (int(a["channels"]),), "shift": (int(a["channels"]),)}
        else:
            want = {}
        for role, tensor in p.items():
            if op == "position_mask" and role == "mask":
                continue  # (C, H, W) of the activation map: checked against the manifest only
            if role not in want:
                raise GraphError(f"{_where(node)} has an unknown parameter role {role!r}")
            shapes[tensor] = want[role]
    return shapes


def check_graph(doc: Any, *, source: str = "graph.json") -> dict[str, tuple[int, ...]]:
    """Validate a ``graph.json`` document; return :func:`param_shapes` of its nodes.

    Raises:
        ManifestError: the document violates ``graph.schema.json`` (with the field's pointer).
        GraphError: duplicate or undefined names (a cycle or a dangling input), an unknown output,
            a bad or out-of-bounds attribute, or more than :data:`MAX_PARAMS` parameters.
    """
    validate(doc, "graph", source=source)
    seen = {doc["input"]["name"]}
    if int(doc["input"]["channels"]) > MAX_DIM:
        raise GraphError(f"{source}: {doc['input']['channels']} input channels is over {MAX_DIM}")
    for node in doc["nodes"]:
        if node["name"] in seen:
            raise GraphError(f"{source}: duplicate node name {node['name']!r}")
        for src in node["inputs"]:
            if src not in seen:
                raise GraphError(
                    f"{source}: node {node['name']!r} reads {src!r} before it is defined",
                    hint="nodes must be in topological order (no cycles, no dangling inputs)",
                )
        check_attrs(node)
        seen.add(node["name"])
    if doc["output"] not in seen:
        raise GraphError(f"{source}: graph output {doc['output']!r} is not a node")
    shapes = param_shapes(doc["nodes"])
    total = sum(_numel(s) for s in shapes.values())
    if total > MAX_PARAMS:
        raise GraphError(f"{source} declares {total:,} parameters, over the limit of {MAX_PARAMS:,}")
    return shapes


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
