"""The composed runtime: many modules, one ``nn.Module`` that takes raw images.

:class:`AssembledModel` takes uint8 NHWC images, feeds every part through its own input spec (size,
channels, mean/std; images are converted once per distinct spec), and returns one calibrated log-odds
column per class, in the assembly's class order. Class modules that run on the same trunk package
run it once per batch; their tails, when they have the same structure (one width profile), are
stacked into one grouped network (:mod:`nnparts.client.zoo.stacked`) and run as one computation, so
k classes of one origin cost about trunk + k x tail. Older parts cut from the same origin that begin
with identical leading layers (same nodes, same tensors) run those layers once, then their own rest.

Decision rules: ``argmax`` of calibrated scores (default), or Pan & Rajan's ``vote`` (a unique
positive module wins; otherwise the highest score). With ``abstain`` set, a sample whose best
calibrated probability is below it is answered ``-1`` (unknown). An optional few-shot stitching head
(a K x K linear map fitted on labelled validation data) re-weights the scores; assemblies are
zero-shot without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nnparts.client.data.transforms import to_tensor
from nnparts.client.extract.heads import ovr_scores
from nnparts.client.zoo.ir import Node
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.stacked import stack, structure_key
from nnparts.schemas.errors import GraphError, UsageError
from nnparts.schemas.manifest import Calibration, InputSpec

RULES = ("argmax", "vote")


@dataclass(frozen=True, eq=False)
class AssembledPart:
    """One module inside an assembly: its network and which assembly columns it answers."""

    net: GraphNet
    input: InputSpec
    calibration: Calibration
    output_type: str
    columns: tuple[int, ...]  # assembly column of each output (ovr: one; logits: one per class)
    origin_sha256: str
    trunk: GraphNet | None = None  # the trunk ``net`` runs on (a tail), shared by identity
    trunk_sha256: str | None = None


class _TrunkGroup(nn.Module):
    """One trunk and the tails that run on it: stacked blocks of equal structure, the rest alone."""

    def __init__(self, trunk: GraphNet, parts: Sequence[tuple[int, AssembledPart]]) -> None:
        super().__init__()
        self.trunk = trunk
        by_shape: dict[object, list[tuple[int, AssembledPart]]] = {}
        for i, part in parts:
            by_shape.setdefault(structure_key(part.net.graph, part.net.state_tensors()), []).append((i, part))
        self.blocks = nn.ModuleList()
        self.members: list[list[int]] = []
        for members in by_shape.values():
            nets = [p.net for _, p in members]
            tensors = [n.state_tensors() for n in nets]
            try:  # one attempt: stack() raises GraphError where stackable() would say no
                joined = stack([n.graph for n in nets], tensors)
            except GraphError:
                for i, part in members:
                    self.blocks.append(part.net)
                    self.members.append([i])
                continue
            self.blocks.append(GraphNet(joined.graph, joined.tensors).eval())
            self.members.append([i for i, _ in members])

    @property
    def stacked(self) -> list[int]:
        """Number of tails in each block."""
        return [len(m) for m in self.members]


def _node_key(node: Node, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(repr((node.name, node.op, node.inputs, sorted(node.attrs.items()))).encode())
    for role in sorted(node.params):
        t = tensors[node.params[role]].detach().contiguous().cpu()
        h.update(role.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def shared_prefix(nets: Sequence[GraphNet]) -> int:
    """Number of leading nodes identical (definition and tensors) in every net."""
    if len(nets) < 2:
        return 0
    keys = []
    for net in nets:
        tensors = net.state_tensors()
        keys.append([_node_key(n, tensors) for n in net.graph.nodes])
    n = 0
    while all(len(k) > n for k in keys) and len({k[n] for k in keys}) == 1:
        n += 1
    return n


@dataclass(frozen=True)
class Stitch:
    """Few-shot stitching head: ``logits = scores @ weight.T + bias`` over the K calibrated scores,
    fitted on labelled validation data of the assembled classes (optional; zero-shot without it)."""

    weight: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    samples: int = 0
    data: tuple[str, ...] = ()

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(self.weight, dtype=scores.dtype, device=scores.device)
        b = torch.tensor(self.bias, dtype=scores.dtype, device=scores.device)
        return scores @ w.T + b

    def to_dict(self) -> dict[str, object]:
        return {
            "weight": [list(r) for r in self.weight],
            "bias": list(self.bias),
            "samples": self.samples,
            "data": list(self.data),
            "split": "val",
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Stitch:
        weight = d["weight"]
        bias = d["bias"]
        assert isinstance(weight, list) and isinstance(bias, list)
        data = d.get("data", [])
        return cls(
            tuple(tuple(float(v) for v in row) for row in weight),
            tuple(float(v) for v in bias),
            int(str(d.get("samples", 0))),
            tuple(str(x) for x in data) if isinstance(data, list) else (),
        )


def fit_stitch(
    scores: torch.Tensor, labels: torch.Tensor, *, l2: float = 1e-2, data: tuple[str, ...] = ()
) -> Stitch:
    """Multinomial logistic regression on calibrated scores, regularised towards the identity."""
    k = scores.shape[1]
    s, y = scores.detach().double(), labels.long()
    w = torch.eye(k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    eye = torch.eye(k, dtype=torch.float64)
    opt = torch.optim.LBFGS([w, b], lr=0.5, max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(s @ w.T + b, y) + l2 * ((w - eye) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    weight = tuple(tuple(round(float(v), 6) for v in row) for row in w.detach())
    return Stitch(weight, tuple(round(float(v), 6) for v in b.detach()), len(y), data)


class AssembledModel(nn.Module):
    def __init__(
        self,
        parts: Sequence[AssembledPart],
        classes: Sequence[str],
        *,
        rule: str = "argmax",
        abstain: float | None = None,
        stitch: Stitch | None = None,
    ) -> None:
        super().__init__()
        if rule not in RULES:
            raise UsageError(f"unknown decision rule {rule!r}", hint=f"use one of {', '.join(RULES)}")
        if abstain is not None and not 0.0 < abstain < 1.0:
            raise UsageError(f"--abstain must be a probability in (0, 1), got {abstain}")
        self.parts = list(parts)
        self.nets = nn.ModuleList(p.net for p in self.parts)
        self.classes = tuple(classes)
        self.rule = rule
        self.abstain = abstain
        self.stitch = stitch
        if stitch is not None and len(stitch.bias) != len(self.classes):
            raise UsageError(f"stitching head has {len(stitch.bias)} outputs for {len(self.classes)} classes")
        covered = sorted(c for p in self.parts for c in p.columns)
        if covered != list(range(len(self.classes))):
            raise UsageError("every class of the assembly must be answered by exactly one module output")
        self.groups: list[tuple[list[int], int]] = []  # (part indices, shared trunk length)
        by_origin: dict[tuple[str, InputSpec], list[int]] = {}
        by_trunk: dict[tuple[str, InputSpec], list[int]] = {}
        for i, p in enumerate(self.parts):
            if p.trunk is not None and p.trunk_sha256 is not None:
                by_trunk.setdefault((p.trunk_sha256, p.input), []).append(i)
            else:
                by_origin.setdefault((p.origin_sha256, p.input), []).append(i)
        for members in by_origin.values():
            self.groups.append((members, shared_prefix([self.parts[i].net for i in members])))
        self.trunk_groups = nn.ModuleList()
        self.trunk_inputs: list[InputSpec] = []
        for (_, spec), members in by_trunk.items():
            trunk = self.parts[members[0]].trunk
            assert trunk is not None
            self.trunk_groups.append(_TrunkGroup(trunk, [(i, self.parts[i]) for i in members]))
            self.trunk_inputs.append(spec)

    @property
    def shared_trunk_nodes(self) -> list[int]:
        return [n for _, n in self.groups]

    def _put(self, out: torch.Tensor, part: AssembledPart, y: torch.Tensor) -> None:
        if part.output_type == "logits":
            y = ovr_scores(y)
        cal = part.calibration
        if cal.method != "none":
            y = y / cal.temperature + cal.bias
        out[:, list(part.columns)] = y

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Calibrated log-odds (N, K) for uint8 NHWC ``images``."""
        device = next(self.parameters()).device
        out = torch.empty(images.shape[0], len(self.classes), device=device)
        inputs: dict[InputSpec, torch.Tensor] = {}
        for group, spec in zip(self.trunk_groups, self.trunk_inputs, strict=True):
            assert isinstance(group, _TrunkGroup)
            if spec not in inputs:
                inputs[spec] = to_tensor(images, spec, device=device)
            features = group.trunk(inputs[spec])
            for block, members in zip(group.blocks, group.members, strict=True):
                y = block(features)
                start = 0
                for i in members:
                    part = self.parts[i]
                    width = len(part.columns) if part.output_type == "logits" else 1
                    self._put(out, part, y[:, start : start + width])
                    start += width
        for members, trunk_len in self.groups:
            spec = self.parts[members[0]].input
            if spec not in inputs:
                inputs[spec] = to_tensor(images, spec, device=device)
            x = inputs[spec]
            preset = None
            if trunk_len:
                first = self.parts[members[0]].net
                stop = first.graph.nodes[trunk_len - 1].name
                preset = first.run_values(x, stop_after=stop)
            for i in members:
                part = self.parts[i]
                self._put(out, part, part.net.run_values(x, preset=preset)[part.net.graph.output])
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Decision scores: calibrated log-odds, passed through the stitching head if there is one."""
        scores = self.scores(images)
        return self.stitch.apply(scores) if self.stitch is not None else scores

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        """Class index per sample (``-1`` = abstained) from :meth:`forward`'s scores."""
        best = scores.argmax(1)
        if self.rule == "vote" and self.stitch is None:
            positive = scores > 0
            unique = positive.sum(1) == 1
            best = torch.where(unique, positive.float().argmax(1), best)
        if self.abstain is not None:
            if self.stitch is not None:
                top = torch.softmax(scores, 1).gather(1, best.view(-1, 1)).view(-1)
            else:
                top = torch.sigmoid(scores.gather(1, best.view(-1, 1))).view(-1)
            best = torch.where(top < self.abstain, torch.full_like(best, -1), best)
        return best

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.decide(self(images))
