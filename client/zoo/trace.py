"""Turn any supported ``torch.nn.Module`` into the nnparts graph IR with ``torch.fx``.

No model-specific code: the model is symbolically traced and each fx node is mapped onto one IR op
(see :mod:`nnparts.client.zoo.ir`). BatchNorm is folded into the preceding conv or linear layer when
that layer feeds nothing else, otherwise kept as a per-channel ``affine`` node. Anything outside the
supported set raises :class:`UnsupportedOperation` naming the operation and the module path.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from nnparts.client.zoo.ir import Graph, Node
from nnparts.schemas.errors import GraphError, UnsupportedOperation


@dataclass(frozen=True)
class TracedModel:
    """A graph plus its parameters (float32, contiguous, detached)."""

    graph: Graph
    params: dict[str, torch.Tensor]


def _pair(v: Any) -> list[int]:
    if isinstance(v, int):
        return [v, v]
    return [int(x) for x in v]


def _pool_attrs(kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool) -> dict[str, Any]:
    k = _pair(kernel_size)
    return {
        "kernel_size": k,
        "stride": _pair(stride if stride is not None else k),
        "padding": _pair(padding),
        "ceil_mode": bool(ceil_mode),
    }


def _arg(node: fx.Node, index: int, key: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


class _Tracer:
    def __init__(self, model: nn.Module) -> None:
        self.model = model
        try:
            self.gm = fx.symbolic_trace(model)
        except Exception as exc:  # fx raises many types for untraceable control flow
            raise GraphError(
                f"torch.fx cannot trace {type(model).__name__}: {exc}".splitlines()[0],
                hint="the model's forward must not branch on tensor values",
            ) from exc
        self.nodes: list[Node] = []
        self.params: dict[str, torch.Tensor] = {}
        self.names: dict[fx.Node, str] = {}
        self.used: set[str] = {"input"}
        self.input_name = "input"
        self.input_channels = 0

    def _t(self, name: str, tensor: torch.Tensor) -> str:
        self.params[name] = tensor.detach().to(torch.float32).contiguous().clone()
        return name

    def _src(self, arg: Any, where: str) -> str:
        if not isinstance(arg, fx.Node) or arg not in self.names:
            raise UnsupportedOperation(f"non-tensor operand {arg!r}", where)
        return self.names[arg]

    def _emit(
        self,
        fx_node: fx.Node,
        op: str,
        inputs: list[str],
        attrs: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        name = fx_node.target if fx_node.op == "call_module" else fx_node.name
        name = str(name).replace("/", ".")
        base, k = name, 1
        while name in self.used:
            name, k = f"{base}:{k}", k + 1
        self.used.add(name)
        self.nodes.append(Node(name, op, tuple(inputs), attrs or {}, params or {}))
        self.names[fx_node] = name

    def run(self) -> TracedModel:
        output: str | None = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if self.names:
                    raise UnsupportedOperation("a second model input", n.name)
                self.names[n] = self.input_name
            elif n.op == "call_module":
                self._module(n, self.gm.get_submodule(str(n.target)))
            elif n.op in ("call_function", "call_method"):
                self._function(n)
            elif n.op == "output":
                output = self._src(n.args[0], "output")
            elif n.op == "get_attr":
                raise UnsupportedOperation(f"direct parameter access {n.target}", n.name)
        if output is None:
            raise GraphError("traced graph has no output")
        first_conv = next((n for n in self.nodes if n.op in ("conv2d", "linear")), None)
        if first_conv is None:
            raise GraphError("the model has no conv or linear layer")
        key = "in_channels" if first_conv.op == "conv2d" else "in_features"
        graph = Graph(self.input_name, int(first_conv.attrs[key]), tuple(self.nodes), output)
        return TracedModel(graph, self.params)

    def _module(self, n: fx.Node, m: nn.Module) -> None:
        where = str(n.target)
        src = [self._src(a, where) for a in n.args]
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise UnsupportedOperation(
                    f"Conv2d(padding={m.padding!r}, padding_mode={m.padding_mode!r})", where
                )
            params = {"weight": self._t(f"{where}.weight", m.weight)}
            if m.bias is not None:
                params["bias"] = self._t(f"{where}.bias", m.bias)
            attrs = {
                "in_channels": m.in_channels,
                "out_channels": m.out_channels,
                "kernel_size": _pair(m.kernel_size),
                "stride": _pair(m.stride),
                "padding": _pair(m.padding),
                "dilation": _pair(m.dilation),
                "groups": m.groups,
            }
            self._emit(n, "conv2d", src, attrs, params)
        elif isinstance(m, nn.Linear):
            params = {"weight": self._t(f"{where}.weight", m.weight)}
            if m.bias is not None:
                params["bias"] = self._t(f"{where}.bias", m.bias)
            self._emit(
                n, "linear", src, {"in_features": m.in_features, "out_features": m.out_features}, params
            )
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            if m.running_mean is None or m.running_var is None:
                raise UnsupportedOperation("BatchNorm without running statistics", where)
            scale = torch.rsqrt(m.running_var.double() + m.eps)
            if m.weight is not None:
                scale = scale * m.weight.double()
            shift = -m.running_mean.double() * scale
            if m.bias is not None:
                shift = shift + m.bias.double()
            params = {"scale": self._t(f"{where}.scale", scale), "shift": self._t(f"{where}.shift", shift)}
            self._emit(n, "affine", src, {"channels": m.num_features}, params)
        elif isinstance(m, nn.ReLU):
            self._emit(n, "relu", src)
        elif isinstance(m, nn.ReLU6):
            self._emit(n, "relu6", src)
        elif isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity)):
            self._emit(n, "identity", src[:1])
        elif isinstance(m, nn.MaxPool2d):
            attrs = _pool_attrs(m.kernel_size, m.stride, m.padding, m.ceil_mode)
            attrs["dilation"] = _pair(m.dilation)
            self._emit(n, "max_pool2d", src, attrs)
        elif isinstance(m, nn.AvgPool2d):
            attrs = _pool_attrs(m.kernel_size, m.stride, m.padding, m.ceil_mode)
            attrs["count_include_pad"] = bool(m.count_include_pad)
            self._emit(n, "avg_pool2d", src, attrs)
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            op = "adaptive_avg_pool2d" if isinstance(m, nn.AdaptiveAvgPool2d) else "adaptive_max_pool2d"
            self._emit(n, op, src, {"output_size": _pair(m.output_size)})
        elif isinstance(m, nn.Flatten):
            if m.end_dim != -1:
                raise UnsupportedOperation(f"Flatten(end_dim={m.end_dim})", where)
            self._emit(n, "flatten", src, {"start_dim": m.start_dim})
        else:
            raise UnsupportedOperation(type(m).__name__, where)

    def _function(self, n: fx.Node) -> None:
        t = n.target
        where = n.name
        if t in (operator.add, operator.iadd, torch.add, "add", "add_"):
            if "alpha" in n.kwargs:
                raise UnsupportedOperation("add with alpha", where)
            self._emit(n, "add", [self._src(a, where) for a in n.args[:2]])
        elif t in (torch.cat, torch.concat):
            tensors = n.args[0] if n.args else n.kwargs["tensors"]
            if not isinstance(tensors, (list, tuple)):
                raise UnsupportedOperation("cat of a non-list operand", where)
            dim = int(_arg(n, 1, "dim", 0))
            if dim not in (1, -3):
                raise UnsupportedOperation(f"cat along dim {dim}", where)
            self._emit(n, "cat", [self._src(a, where) for a in tensors], {"dim": 1})
        elif t in (torch.flatten, "flatten"):
            start = int(_arg(n, 1, "start_dim", 0))
            end = int(_arg(n, 2, "end_dim", -1))
            if start != 1 or end != -1:
                raise UnsupportedOperation(f"flatten(start_dim={start}, end_dim={end})", where)
            self._emit(n, "flatten", [self._src(n.args[0], where)], {"start_dim": 1})
        elif t in (F.relu, torch.relu, "relu", "relu_"):
            self._emit(n, "relu", [self._src(n.args[0], where)])
        elif t is F.relu6:
            self._emit(n, "relu6", [self._src(n.args[0], where)])
        elif t in (F.dropout, F.dropout2d):
            self._emit(n, "identity", [self._src(n.args[0], where)])
        elif t in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            op = "adaptive_avg_pool2d" if t is F.adaptive_avg_pool2d else "adaptive_max_pool2d"
            size = _arg(n, 1, "output_size", None)
            self._emit(n, op, [self._src(n.args[0], where)], {"output_size": _pair(size)})
        elif t in (F.max_pool2d, F.avg_pool2d):
            k = _arg(n, 1, "kernel_size", None)
            attrs = _pool_attrs(k, _arg(n, 2, "stride", None) or k, _arg(n, 3, "padding", 0), False)
            if t is F.max_pool2d:
                attrs["dilation"] = _pair(_arg(n, 4, "dilation", 1))
                attrs["ceil_mode"] = bool(_arg(n, 5, "ceil_mode", False))
                self._emit(n, "max_pool2d", [self._src(n.args[0], where)], attrs)
            else:
                attrs["ceil_mode"] = bool(_arg(n, 4, "ceil_mode", False))
                attrs["count_include_pad"] = bool(_arg(n, 5, "count_include_pad", True))
                self._emit(n, "avg_pool2d", [self._src(n.args[0], where)], attrs)
        else:
            name = t if isinstance(t, str) else getattr(t, "__name__", repr(t))
            raise UnsupportedOperation(str(name), where)


def fold_batchnorm(traced: TracedModel) -> TracedModel:
    """Fold every ``affine`` whose input is a conv/linear used only by it into that layer's weights."""
    graph, params = traced.graph, dict(traced.params)
    users = graph.users()
    by_name = {n.name: n for n in graph.nodes}
    folded: dict[str, str] = {}  # affine name -> producer name
    new_nodes: dict[str, Node] = {}
    for n in graph.nodes:
        if n.op != "affine":
            continue
        src = by_name.get(n.inputs[0])
        if src is None or src.op not in ("conv2d", "linear") or users[src.name] != [n.name]:
            continue
        scale, shift = params.pop(n.params["scale"]), params.pop(n.params["shift"])
        w = params[src.params["weight"]]
        shape = (-1,) + (1,) * (w.dim() - 1)
        params[src.params["weight"]] = (w.double() * scale.double().view(shape)).float()
        bias_name = src.params.get("bias", f"{src.name}.bias")
        bias = params.get(bias_name, torch.zeros(w.shape[0])).double()
        params[bias_name] = (bias * scale.double() + shift.double()).float()
        new_nodes[src.name] = Node(src.name, src.op, src.inputs, src.attrs, {**src.params, "bias": bias_name})
        folded[n.name] = src.name
    nodes = []
    for n in graph.nodes:
        if n.name in folded:
            continue
        n = new_nodes.get(n.name, n)
        nodes.append(Node(n.name, n.op, tuple(folded.get(i, i) for i in n.inputs), n.attrs, n.params))
    return TracedModel(graph.with_nodes(nodes, folded.get(graph.output, graph.output)), params)


def trace_model(model: nn.Module, *, fold_bn: bool = True) -> TracedModel:
    """Trace ``model`` (in eval semantics) into the IR; fold BatchNorm unless ``fold_bn`` is false."""
    from nnparts.client.zoo.runtime import GraphNet

    if isinstance(model, GraphNet):  # already the IR (an origin imported from a user's own module)
        traced = TracedModel(model.graph, {k: v.to(torch.float32) for k, v in model.state_tensors().items()})
    else:
        traced = _Tracer(model.eval()).run()
    return fold_batchnorm(traced) if fold_bn else traced
