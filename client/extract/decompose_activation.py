"""Pan & Rajan (ICSE'22) decomposition, faithful: activation-position masks, every weight kept.

For class ``c`` (ALGORITHMS.md §2):

1. **Concern identification**: feed up to ``max_inputs`` training inputs of class ``c``; at every ReLU
   output (conv positions ``C x H x W`` and dense nodes alike) a position is *off* if it is ≤ 0 for
   every concerned input.
2. **Tangling identification**: feed as many unconcerned inputs (1:1, spread over the other classes);
   positions any of them activates are restored.
3. **Output channelling**: the last linear layer is reduced to two outputs, the class's row and the
   mean of all other rows (weights and biases): ``[positive, negative]``.
4. **MC-BLN backtracking** (δ = 0.5): an input of that layer strongly feeding only the negative output
   (``|w_neg| > δ`` and ``|w_pos| ≤ δ``) is removed, and the removal is mapped back through flatten and
   pooling onto the channel of the nearest ReLU output (all of its positions go off).

The module's score is ``positive - negative``. These modules keep every weight and every FLOP of the
origin; they add bit-packed position masks. They are **not smaller** and the manifest says so.
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from nnparts.client.extract.base import (
    ExtractedModule,
    ExtractSettings,
    OriginNet,
    TensorData,
    register_extractor,
)
from nnparts.client.extract.calibrate import binary_metrics, calibrated, fit_temperature
from nnparts.client.extract.heads import with_ovr_head
from nnparts.client.zoo.cost import graph_cost
from nnparts.client.zoo.ir import Graph, Node
from nnparts.client.zoo.runtime import GraphNet
from nnparts.schemas.errors import GraphError
from nnparts.schemas.manifest import ClassEntry, MaskInfo

DEFAULTS: dict[str, Any] = {"max_inputs": 1000, "delta": 0.5}
_PASS_BACK = ("flatten", "adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "max_pool2d", "identity")


def _active_any(
    net: GraphNet, sites: list[str], x: torch.Tensor, batch: int, device: str
) -> dict[str, torch.Tensor]:
    acc: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, len(x), batch):
            capture: dict[str, torch.Tensor] = {s: torch.empty(0) for s in sites}
            net.run(x[start : start + batch].to(device), capture=capture)
            for s in sites:
                any_on = (capture[s] > 0).any(0).cpu()
                acc[s] = any_on if s not in acc else acc[s] | any_on
    return acc


def _balanced_negatives(y: torch.Tensor, c: int, n: int, gen: torch.Generator) -> torch.Tensor:
    others = [k for k in torch.unique(y).tolist() if k != c]
    per = max(1, n // max(len(others), 1))
    picks = []
    for k in others:
        idx = torch.nonzero(y == k).view(-1)
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per]])
    return torch.cat(picks)[:n]


def _channel_output(
    graph: Graph, tensors: dict[str, torch.Tensor], c: int
) -> tuple[Graph, dict[str, torch.Tensor], Node]:
    last = graph.node(graph.output)
    if last.op != "linear":
        raise GraphError(f"the activation method needs a linear output layer; {last.name!r} is {last.op}")
    w = tensors[last.params["weight"]]
    others = [k for k in range(w.shape[0]) if k != c]
    new = dict(tensors)
    new[last.params["weight"]] = torch.stack([w[c], w[others].mean(0)])
    if "bias" in last.params:
        b = tensors[last.params["bias"]]
        new[last.params["bias"]] = torch.stack([b[c], b[others].mean()])
    node = last.with_attrs(out_features=2)
    nodes = [node if n.name == last.name else n for n in graph.nodes]
    return graph.with_nodes(nodes), new, node


def _backtrack_site(graph: Graph, start: str, sites: set[str]) -> str | None:
    name = start
    while name not in sites:
        if name == graph.input_name:
            return None
        node = graph.node(name)
        if node.op not in _PASS_BACK:
            return None
        name = node.inputs[0]
    return name


@register_extractor("activation")
class ActivationDecomposer:
    """Pan & Rajan's CI + TI + MC-BLN; see the module docstring."""

    name = "activation"

    def extract(
        self,
        origin: OriginNet,
        classes: list[int],
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
    ) -> list[ExtractedModule]:
        params = {**DEFAULTS, **settings.params}
        device = settings.device
        net = origin.net.to(device).eval()
        graph = origin.graph
        sites = [n.name for n in graph.nodes if n.op in ("relu", "relu6")]
        h, w = origin.input.height, origin.input.width
        full = graph_cost(origin.net.cpu(), h, w)
        net.to(device)
        tensors = origin.net.state_tensors()
        gen = torch.Generator().manual_seed(settings.seed)
        modules = []
        for c in tqdm(classes, desc="activation modules", disable=not settings.progress, leave=False):
            pos = torch.nonzero(train.y == c).view(-1)
            pos = pos[torch.randperm(len(pos), generator=gen)[: int(params["max_inputs"])]]
            neg = _balanced_negatives(train.y, c, len(pos), gen)
            on_pos = _active_any(net, sites, train.x[pos], settings.batch_size, device)
            on_neg = _active_any(net, sites, train.x[neg], settings.batch_size, device)
            keep = {s: on_pos[s] | on_neg[s] for s in sites}  # CI then TI
            g2, t2, last = _channel_output(graph, tensors, c)
            wpos, wneg = t2[last.params["weight"]][0].abs(), t2[last.params["weight"]][1].abs()
            removed = torch.nonzero((wneg > params["delta"]) & (wpos <= params["delta"])).view(-1)
            site = _backtrack_site(graph, last.inputs[0], set(sites))
            if site is not None and len(removed):
                keep[site] = keep[site].clone()
                keep[site][removed] = False
            nodes: list[Node] = []
            rename: dict[str, str] = {}
            for node in g2.nodes:
                nodes.append(
                    Node(
                        node.name,
                        node.op,
                        tuple(rename.get(i, i) for i in node.inputs),
                        node.attrs,
                        node.params,
                    )
                )
                if node.name in keep:
                    mname = f"{node.name}.pmask"
                    t2[mname] = keep[node.name].clone()
                    nodes.append(Node(mname, "position_mask", (node.name,), {}, {"mask": mname}))
                    rename[node.name] = mname
            g3 = with_ovr_head(g2.with_nodes(nodes, rename.get(g2.output, g2.output)), 0)
            mnet = GraphNet(g3, t2).to(device).eval()
            with torch.no_grad():
                vs = torch.cat(
                    [mnet(x.to(device)).view(-1).cpu() for x, _ in val.batches(settings.batch_size)]
                )
            cal = fit_temperature(vs, val.y == c)
            kept_pos = sum(int(k.sum()) for k in keep.values())
            all_pos = sum(k.numel() for k in keep.values())
            modules.append(
                ExtractedModule(
                    graph=g3,
                    tensors=t2,
                    kind="class_module",
                    classes=(ClassEntry(origin.origin.classes[c], c),),
                    method="activation",
                    params={
                        **{k: params[k] for k in DEFAULTS},
                        "seed": settings.seed,
                        "variant": "CI + TI (1:1) + MC-BLN",
                        "removed_dense_inputs": len(removed),
                    },
                    mask=MaskInfo(
                        granularity="activation",
                        density=round(kept_pos / max(all_pos, 1), 6),
                        params_before=full.params,
                        params_after=full.params,
                        physically_smaller=False,
                        flops_before=full.flops,
                        flops_after=full.flops,
                        note="keeps every weight and FLOP of the origin; density is the share of activation "
                        "positions left on (Pan & Rajan modules are not smaller)",
                    ),
                    metrics={"val": binary_metrics(calibrated(vs, cal), val.y == c)},
                    output_type="ovr_score",
                    output_size=1,
                    calibration=cal,
                )
            )
        origin.net.cpu()
        return modules
