"""Rebuild a runnable ``torch.nn.Module`` from the graph IR and its named tensors.

:class:`GraphNet` holds real ``nn.Conv2d`` / ``nn.Linear`` layers (so it exports to ONNX and runs at
stock PyTorch speed) and executes the nodes in order. Extraction code passes ``gates``: per-channel
multipliers applied to the outputs of producer nodes (conv, linear, affine), which is how a masked
full model is evaluated before channels are physically removed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from nnparts.client.zoo.ir import Graph, Node
from nnparts.schemas.errors import GraphError, WeightsError


def layer_key(name: str) -> str:
    """The ``layers`` / ``extra`` key of a node (dots are not allowed in module names)."""
    return name.replace(".", "__")


class GraphNet(nn.Module):
    """Executes a :class:`Graph`; parameters are copied from ``tensors`` (checked for shape)."""

    def __init__(self, graph: Graph, tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.graph = graph
        self.layers = nn.ModuleDict()
        self.extra = nn.ParameterDict()
        missing = [t for t in graph.param_names() if t not in tensors]
        if missing:
            raise WeightsError("graph parameters absent from the weights", missing=missing)
        for node in graph.nodes:
            self._build(node, tensors)

    def _param(self, tensors: Mapping[str, torch.Tensor], name: str, shape: tuple[int, ...]) -> torch.Tensor:
        t = tensors[name]
        if tuple(t.shape) != shape:
            raise WeightsError(
                f"tensor {name!r} has shape {tuple(t.shape)}, the graph needs {shape}", mismatched=[name]
            )
        return t.detach().to(torch.float32)

    def _build(self, node: Node, tensors: Mapping[str, torch.Tensor]) -> None:
        a, p = node.attrs, node.params
        if node.op == "conv2d":
            cin, cout, g = int(a["in_channels"]), int(a["out_channels"]), int(a["groups"])
            k = tuple(a["kernel_size"])
            conv = nn.Conv2d(
                cin,
                cout,
                k,
                stride=tuple(a["stride"]),
                padding=tuple(a["padding"]),
                dilation=tuple(a["dilation"]),
                groups=g,
                bias="bias" in p,
            )
            conv.weight.data.copy_(self._param(tensors, p["weight"], (cout, cin // g, *k)))
            if "bias" in p and conv.bias is not None:
                conv.bias.data.copy_(self._param(tensors, p["bias"], (cout,)))
            self.layers[layer_key(node.name)] = conv
        elif node.op == "linear":
            fin, fout = int(a["in_features"]), int(a["out_features"])
            lin = nn.Linear(fin, fout, bias="bias" in p)
            lin.weight.data.copy_(self._param(tensors, p["weight"], (fout, fin)))
            if "bias" in p and lin.bias is not None:
                lin.bias.data.copy_(self._param(tensors, p["bias"], (fout,)))
            self.layers[layer_key(node.name)] = lin
        elif node.op == "affine":
            c = int(a["channels"])
            self.extra[layer_key(node.name) + "__scale"] = nn.Parameter(
                self._param(tensors, p["scale"], (c,))
            )
            self.extra[layer_key(node.name) + "__shift"] = nn.Parameter(
                self._param(tensors, p["shift"], (c,))
            )
        elif node.op == "position_mask":
            t = tensors[p["mask"]].detach().to(torch.float32)  # stored as bool bits
            self.extra[layer_key(node.name) + "__mask"] = nn.Parameter(t, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def run(
        self,
        x: torch.Tensor,
        gates: Mapping[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Evaluate the graph; ``gates[name]`` multiplies a producer's output channel-wise; node
        outputs whose names are keys of ``capture`` are stored into it."""
        return self.run_values(x, gates=gates, capture=capture)[self.graph.output]

    def run_values(
        self,
        x: torch.Tensor,
        *,
        gates: Mapping[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
        preset: Mapping[str, torch.Tensor] | None = None,
        stop_after: str | None = None,
    ) -> dict[str, torch.Tensor]:
        """Evaluate nodes in order, returning every node's value. Nodes in ``preset`` are taken as
        given (a shared trunk computed once); evaluation ends after ``stop_after`` if given."""
        values: dict[str, torch.Tensor] = {self.graph.input_name: x, **(preset or {})}
        for node in self.graph.nodes:
            if node.name in values:
                if node.name == stop_after:
                    break
                continue
            out = self._exec(node, [values[i] for i in node.inputs])
            if gates is not None and node.name in gates:
                g = gates[node.name]
                out = out * (g.view(1, -1, 1, 1) if out.dim() == 4 else g.view(1, -1))
            if capture is not None and node.name in capture:
                capture[node.name] = out
            values[node.name] = out
            if node.name == stop_after:
                break
        return values

    def _exec(self, node: Node, xs: list[torch.Tensor]) -> torch.Tensor:
        a, op = node.attrs, node.op
        if op in ("conv2d", "linear"):
            out: torch.Tensor = self.layers[layer_key(node.name)](xs[0])
            return out
        if op == "affine":
            scale = self.extra[layer_key(node.name) + "__scale"]
            shift = self.extra[layer_key(node.name) + "__shift"]
            shape = (1, -1, 1, 1) if xs[0].dim() == 4 else (1, -1)
            result: torch.Tensor = xs[0] * scale.view(shape) + shift.view(shape)
            return result
        if op == "relu":
            return F.relu(xs[0])
        if op == "relu6":
            return F.relu6(xs[0])
        if op == "identity":
            return xs[0]
        if op == "max_pool2d":
            return F.max_pool2d(
                xs[0], a["kernel_size"], a["stride"], a["padding"], a.get("dilation", 1), a["ceil_mode"]
            )
        if op == "avg_pool2d":
            return F.avg_pool2d(
                xs[0], a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"]
            )
        if op == "adaptive_avg_pool2d":
            return F.adaptive_avg_pool2d(xs[0], a["output_size"])
        if op == "adaptive_max_pool2d":
            return F.adaptive_max_pool2d(xs[0], a["output_size"])
        if op == "add":
            out = xs[0]
            for other in xs[1:]:
                out = out + other
            return out
        if op == "cat":
            return torch.cat(xs, dim=1)
        if op == "flatten":
            return torch.flatten(xs[0], 1)
        if op == "position_mask":
            masked: torch.Tensor = xs[0] * self.extra[layer_key(node.name) + "__mask"].unsqueeze(0)
            return masked
        if op == "select":
            return xs[0][:, list(a["indices"])]
        if op == "ovr_score":
            z = xs[0]
            c = int(a["index"])
            others = torch.cat([z[:, :c], z[:, c + 1 :]], dim=1)
            return (z[:, c] - torch.logsumexp(others, dim=1)).unsqueeze(1)
        raise GraphError(f"op {op!r} has no runtime")

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The graph's named tensors as they are now (inverse of the constructor)."""
        out: dict[str, torch.Tensor] = {}
        for node in self.graph.nodes:
            p = node.params
            if node.op in ("conv2d", "linear"):
                layer = self.layers[layer_key(node.name)]
                assert isinstance(layer, (nn.Conv2d, nn.Linear))
                out[p["weight"]] = layer.weight.detach().clone()
                if "bias" in p and layer.bias is not None:
                    out[p["bias"]] = layer.bias.detach().clone()
            elif node.op == "affine":
                out[p["scale"]] = self.extra[layer_key(node.name) + "__scale"].detach().clone()
                out[p["shift"]] = self.extra[layer_key(node.name) + "__shift"].detach().clone()
            elif node.op == "position_mask":
                out[p["mask"]] = self.extra[layer_key(node.name) + "__mask"].detach().clone() != 0
        return out
