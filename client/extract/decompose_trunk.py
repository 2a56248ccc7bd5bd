"""Trunk + tails decomposition (nnparts' default): one shared trunk package and a small tail per class.

1. **Cut.** On the traced graph, the last cut point (a node after which only its output is live, see
   :mod:`nnparts.client.zoo.graph_cut`) holding at most ``trunk_fraction`` of the FLOPs splits the
   origin into a trunk and a tail. ``trunk_fraction`` None gives standalone modules (no trunk: the
   whole network is each class's tail).
2. **Trunk**, once for all classes: channel variables inside the trunk (residual-stream channels are
   kept, policy *keep*) are scored by Fisher importance on the origin's own loss, the same share of
   every group is kept so that the trunk costs ``trunk_goal`` of the origin's FLOPs, the channels are
   removed, each remaining convolution is refitted by least squares to the origin's outputs on
   ``reconstruct`` training images (:mod:`~nnparts.client.extract.reconstruct`; ResNet-20's trunk
   at 35 % of the FLOPs: 34 % -> 89 % val top-1 before any training), and the pruned network
   (trunk + the origin's tail) is fine-tuned at ``trunk_lr`` (below the tails' ``lr``: a refitted
   trunk is near a good solution; 5e-4 reached 91.0 % val top-1 in 2 epochs, 2e-3 90.6 %) by
   distillation from the origin's logits. With ``trunk_teacher`` "cached" (the default) those
   logits are computed once, on the training images and their mirror images, and the tails reuse
   them: one pass took 331 s for 91.1 % val top-1 where the live origin on randomly cropped
   batches ("live": crop/flip augmentation, and ``feature_weight`` > 0 also pulls towards the
   origin's features at the cut) took about 500 s for 91.0 %; the time saved pays for a third
   tail epoch (composed test top-1 88.9 % against 88.6 %).
3. **Tails**, jointly: each class scores the tail's channel variables by the Fisher importance of
   its own one-vs-rest loss (residual channels tied, so a tail may keep fewer stream channels) and
   keeps its best channels under one width profile whose FLOPs are ``tail_goal`` of the origin's,
   widths in multiples of ``align`` (8: fast CPU convolution kernels).
   Each tail gets its own head (the origin's row for its class); with ``reconstruct_tails`` it is
   refitted like the trunk (its head towards the origin's logit of its class: ResNet-20's composed
   val top-1 before training 25 % -> 78 %; off by default: at the tails' ``lr`` the first steps undo
   most of it, and its effect after training is unmeasured). All tails are stacked into one
   grouped network and trained together on the trunk's cached features with the composed objective:
   cross-entropy of the N-way classifier formed by the tail scores, distillation from the origin's
   logits and one-vs-rest BCE per score.
4. **Selection** on the validation split only: the epoch with the best composed val top-1 is kept;
   the manifest records it next to the origin's val top-1 and the tolerance (``tol``) it was held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nnparts.client.extract.base import (
    ExtractedModule,
    ExtractSettings,
    OriginNet,
    TensorData,
    register_extractor,
)
from nnparts.client.extract.calibrate import binary_metrics, calibrated, fit_temperature
from nnparts.client.extract.channels import ChannelPlan, analyse_channels, extract, with_fixed_residuals
from nnparts.client.extract.decompose_channel import FlopsModel
from nnparts.client.extract.heads import ovr_scores
from nnparts.client.extract.importance import (
    fisher_importance,
    keep_top,
    variable_groups,
    width_profile,
)
from nnparts.client.extract.joint_training import TrainPlan, fine_tune, top1
from nnparts.client.extract.reconstruct import kept_indices, reconstruct
from nnparts.client.zoo.cost import graph_cost
from nnparts.client.zoo.graph_cut import GraphSplit, choose_cut, split_at
from nnparts.client.zoo.ir import Graph, Node
from nnparts.client.zoo.runtime import GraphNet
from nnparts.client.zoo.stacked import stack, unstack_tensors
from nnparts.client.zoo.training import Augment
from nnparts.schemas.errors import GraphError, UsageError
from nnparts.schemas.manifest import Calibration, ClassEntry, MaskInfo

DEFAULTS: dict[str, Any] = {
    "trunk_fraction": 0.7,
    "trunk_goal": 0.35,
    "tail_goal": 0.05,
    "trunk_epochs": 1.0,
    "tail_epochs": 3.0,
    "lr": 2e-3,
    "trunk_lr": 5e-4,
    "batch": 128,
    "kd_temperature": 4.0,
    "kd_weight": 1.0,
    "ovr_weight": 1.0,
    "feature_weight": 0.0,
    "importance_batches": 16,
    "augment": "crop+flip",
    "max_train": None,
    "tol": 0.01,
    "align": 8,
    "trunk_teacher": "cached",
    "reconstruct": 1024,
    "reconstruct_tails": False,
}


@dataclass(frozen=True)
class _Tail:
    graph: Graph
    tensors: dict[str, torch.Tensor]
    kept: int


def _augment(name: str, height: int) -> Augment | None:
    """Random crops after padding by an eighth of the image side (4 px at 32 px), and/or flips."""
    pad = max(1, round(height / 8))
    return {
        "none": None,
        "crop": Augment(pad, False),
        "crop+flip": Augment(pad, True),
        "flip": Augment(0, True),
    }[name]


def _train_plan(
    p: dict[str, Any], settings: ExtractSettings, desc: str, lr: float, **stage: Any
) -> TrainPlan:
    """The fine-tuning settings shared by both stages, plus the stage's own (lr, epochs, batch, ...)."""
    return TrainPlan(
        lr=lr,
        kd_temperature=float(p["kd_temperature"]),
        kd_weight=float(p["kd_weight"]),
        seed=settings.seed,
        progress=settings.progress,
        desc=desc,
        **stage,
    )


def _batches(n: int, size: int, count: int, gen: torch.Generator) -> list[torch.Tensor]:
    return [torch.randint(n, (size,), generator=gen) for _ in range(count)]


def _forward(net: GraphNet, x: torch.Tensor, batch: int, device: str) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(net(x[start : start + batch].to(device).float()).cpu())
    return torch.cat(out)


def _head_for(
    graph: Graph, tensors: dict[str, torch.Tensor], c: int
) -> tuple[Graph, dict[str, torch.Tensor]]:
    """Restrict the graph's final linear layer to the row of class ``c`` (a one-score head)."""
    last = graph.node(graph.output)
    if last.op != "linear":
        raise GraphError(
            f"the origin ends in {last.op!r}, not a linear classifier: trunk + tails needs one",
            hint="use --method activation",
        )
    t = dict(tensors)
    t[last.params["weight"]] = tensors[last.params["weight"]][c : c + 1].clone()
    if "bias" in last.params:
        t[last.params["bias"]] = tensors[last.params["bias"]][c : c + 1].clone()
    head = Node(last.name, last.op, last.inputs, {**last.attrs, "out_features": 1}, last.params)
    return graph.with_nodes([*graph.nodes[:-1], head]), t


def _plan(
    graph: Graph, tensors: dict[str, torch.Tensor], hw: tuple[int, int]
) -> tuple[ChannelPlan, FlopsModel, int]:
    """Channel variables of ``graph``, its differentiable FLOPs model and its FLOPs at input size ``hw``."""
    cost = graph_cost(GraphNet(graph, tensors), *hw)
    plan = analyse_channels(graph, cost.shapes)
    return plan, FlopsModel(graph, plan, cost), cost.flops


@register_extractor("trunk")
class TrunkTailDecomposer:
    """A pruned shared trunk plus one small tail per class, trained jointly; see the module docstring."""

    name = "trunk"

    def extract(
        self,
        origin: OriginNet,
        classes: list[int],
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
    ) -> list[ExtractedModule]:
        p = {**DEFAULTS, **settings.params}
        if len(classes) < 1:
            raise UsageError("no class to decompose")
        if p["trunk_teacher"] not in ("live", "cached"):
            raise UsageError(f"trunk_teacher must be 'live' or 'cached', not {p['trunk_teacher']!r}")
        if not isinstance(p["reconstruct"], int) or p["reconstruct"] < 0:
            raise UsageError(
                f"reconstruct must be a number of training images (0: no refit), not {p['reconstruct']!r}",
                hint="e.g. reconstruct 1024",
            )
        if p["trunk_teacher"] == "cached" and float(p["feature_weight"]) > 0:
            raise UsageError(
                "trunk_teacher 'cached' keeps only the origin's logits, not its features",
                hint="set feature_weight 0, or trunk_teacher 'live'",
            )
        torch.manual_seed(settings.seed)
        device = settings.device
        gen = torch.Generator().manual_seed(settings.seed)
        if p["max_train"] and len(train) > int(p["max_train"]):
            train = train.subset(torch.randperm(len(train), generator=gen)[: int(p["max_train"])])
        h, w = origin.input.height, origin.input.width
        full_net = origin.net.cpu().eval()
        full_cost = graph_cost(full_net, h, w)
        teacher_net = GraphNet(origin.graph, full_net.state_tensors()).to(device).eval()
        for q in teacher_net.parameters():
            q.requires_grad_(False)
        augment = _augment(str(p["augment"]), h)
        origin_val = _forward(teacher_net, val.x, settings.batch_size, device)
        base_val = float((origin_val.argmax(1) == val.y).float().mean())
        fraction = p["trunk_fraction"]
        cut = choose_cut(origin.graph, full_cost.node_flops, float(fraction)) if fraction else None
        log: dict[str, Any] = {"origin_val_top1": round(base_val, 5)}
        # the training images the tails see (and, with trunk_teacher "cached", the trunk): flipped
        # copies instead of random flips, so that the origin's logits are computed once
        train_x, train_y = train.x, train.y
        if augment is not None and augment.hflip:
            train_x, train_y = torch.cat([train.x, train.x.flip(3)]), torch.cat([train.y, train.y])
        teacher_logits = _forward(teacher_net, train_x, settings.batch_size, device)
        cached = TensorData(train_x, train_y) if p["trunk_teacher"] == "cached" else None

        if cut is None:
            split = None
            graph, tensors = origin.graph, full_net.state_tensors()
        else:
            graph, tensors, split, log["trunk"] = self._trunk(
                origin,
                teacher_net,
                train,
                val,
                settings,
                p,
                augment,
                cut,
                full_cost.node_flops,
                (cached, teacher_logits) if cached is not None else None,
            )
        # the tail stage: features of the (final) trunk, cached once
        trunk_net = GraphNet(split.trunk, tensors).to(device).eval() if split else None
        tail_graph = split.tail if split else graph
        tail_tensors = {t: tensors[t] for t in tail_graph.param_names()}

        def features(x: torch.Tensor) -> torch.Tensor:
            return _forward(trunk_net, x, settings.batch_size, device).half() if trunk_net else x

        feats = features(train_x)
        val_feats = features(val.x)
        tails, tail_log = self._tails(
            tail_graph,
            tail_tensors,
            classes,
            feats,
            train_y,
            teacher_logits,
            val_feats,
            val.y,
            settings,
            p,
            full_cost.flops,
            (h, w),
            origin_val,
        )
        log["tails"] = tail_log
        log["tolerance"] = float(p["tol"])
        log["within_tolerance"] = tail_log["val_top1"] >= base_val - float(p["tol"])

        modules: list[ExtractedModule] = []
        trunk_cost = None
        params = {k: p[k] for k in DEFAULTS} | {"seed": settings.seed, "cut": cut}
        if split is not None:
            assert trunk_net is not None
            trunk_cost = graph_cost(trunk_net.cpu(), h, w)
            out_channels = trunk_cost.shapes[split.cut][0]
            modules.append(
                ExtractedModule(
                    graph=split.trunk,
                    tensors={t: tensors[t] for t in split.trunk.param_names()},
                    kind="trunk",
                    classes=tuple(ClassEntry(name, i) for i, name in enumerate(origin.origin.classes)),
                    method="channel",
                    params=params,
                    mask=MaskInfo(
                        granularity="channel",
                        density=round(trunk_cost.params / full_cost.params, 6),
                        params_before=full_cost.params,
                        params_after=trunk_cost.params,
                        physically_smaller=True,
                        flops_before=full_cost.flops,
                        flops_after=trunk_cost.flops,
                        residual_policy="keep",
                        note=f"trunk up to {split.cut!r} (cut where the origin has spent "
                        f"{log['trunk']['cut_share_of_origin_flops']:.1%} of its FLOPs), channel-pruned and fine-tuned",
                    ),
                    metrics={"selection": log},
                    output_type="features",
                    output_size=int(out_channels),
                    calibration=Calibration(),
                )
            )
        for c, tail in zip(classes, tails, strict=True):
            net = GraphNet(tail.graph, tail.tensors).eval()
            vs = _forward(net, val_feats, settings.batch_size, "cpu").view(-1)
            cal = fit_temperature(vs, val.y == c)
            tcost = graph_cost(net, *(val_feats.shape[2:] if val_feats.dim() == 4 else (h, w)))
            flops_after = tcost.flops + (trunk_cost.flops if trunk_cost else 0)
            params_after = tcost.params + (trunk_cost.params if trunk_cost else 0)
            modules.append(
                ExtractedModule(
                    graph=tail.graph,
                    tensors=tail.tensors,
                    kind="class_module",
                    classes=(ClassEntry(origin.origin.classes[c], c),),
                    method="channel",
                    params=params,
                    mask=MaskInfo(
                        granularity="channel",
                        density=round(params_after / full_cost.params, 6),
                        params_before=full_cost.params,
                        params_after=params_after,
                        physically_smaller=True,
                        flops_before=full_cost.flops,
                        flops_after=flops_after,
                        residual_policy="tied",
                        note=f"tail: {tcost.params} params, {tcost.flops} FLOPs; {tail.kept} channel variables kept"
                        + (
                            f"; runs on its trunk ({trunk_cost.params} params, {trunk_cost.flops} FLOPs)"
                            if trunk_cost
                            else ""
                        ),
                    ),
                    metrics={
                        "selection": log,
                        "val": binary_metrics(calibrated(vs, cal), val.y == c),
                        "cost": {
                            "tail_params": tcost.params,
                            "tail_flops": tcost.flops,
                            "trunk_params": trunk_cost.params if trunk_cost else 0,
                            "trunk_flops": trunk_cost.flops if trunk_cost else 0,
                        },
                    },
                    output_type="ovr_score",
                    output_size=1,
                    calibration=cal,
                    on_trunk=split is not None,
                )
            )
        origin.net.cpu()
        return modules

    def _trunk(
        self,
        origin: OriginNet,
        teacher: GraphNet,
        train: TensorData,
        val: TensorData,
        settings: ExtractSettings,
        p: dict[str, Any],
        augment: Augment | None,
        cut: str,
        node_flops: dict[str, int],
        cached: tuple[TensorData, torch.Tensor] | None = None,
    ) -> tuple[Graph, dict[str, torch.Tensor], GraphSplit, dict[str, Any]]:
        """Prune the trunk's channels for all classes, fine-tune, return the pruned network and its split.

        With ``cached`` (fixed training images and the origin's logits on them), the fine-tuning
        distils from those logits instead of running the origin on every randomly cropped batch."""
        device = settings.device
        h, w = origin.input.height, origin.input.width
        graph = origin.graph
        net = GraphNet(graph, teacher.state_tensors()).to(device).eval()
        plan, flops, total = _plan(graph, net.state_tensors(), (h, w))
        plan = with_fixed_residuals(plan, graph)
        split = split_at(graph, cut, 1, node_flops)
        tail_nodes = {n.name for n in split.tail.nodes}
        fixed = plan.fixed.copy()
        for name in tail_nodes:
            fixed[plan.tensor_vars[name]] = True
        plan = ChannelPlan(plan.n_vars, plan.tensor_vars, fixed, plan.producers)
        gen = torch.Generator().manual_seed(settings.seed + 1)
        batches = _batches(len(train), int(p["batch"]), int(p["importance_batches"]), gen)

        def loss_of(idx: torch.Tensor) -> Any:
            def loss(gates: torch.Tensor) -> torch.Tensor:
                x = train.x[idx].to(device)
                if augment is not None:
                    from nnparts.client.zoo.training import augment_batch

                    x = augment_batch(x, augment, gen)
                return F.cross_entropy(net.run(x, gates=plan.gates(gates)), train.y[idx].to(device))

            return loss

        importance = fisher_importance(plan, [loss_of(b) for b in batches], device)
        groups = variable_groups(plan)
        goal = float(p["trunk_goal"]) + (1.0 - split.trunk_flops_share)

        def cost(keep: np.ndarray) -> float:
            return float(flops.ratio(torch.as_tensor(keep, dtype=torch.float32, device=device)))

        counts = width_profile(plan, groups, cost, goal, int(p["align"]))
        ratio = sum(counts) / max(1, sum(len(g) for g in groups))
        keep = keep_top(plan, groups, counts, importance)
        small_graph, small = extract(graph, net.state_tensors(), plan, keep)
        pruned = GraphNet(small_graph, small).to(device)
        # the val top-1 after the refit is the fine-tuning log's step 0
        refit: dict[str, Any] = {"images": int(p["reconstruct"])}
        if int(p["reconstruct"]) > 0:
            refit["val_top1_before"] = round(top1(pruned, val.x, val.y, 512, device), 5)
            calib = train.x[torch.randperm(len(train), generator=gen)[: int(p["reconstruct"])]].to(device)
            refit["convs"] = reconstruct(
                pruned, teacher, kept_indices(plan, keep), [n.name for n in split.trunk.nodes], calib
            )
        plan_t = _train_plan(
            p,
            settings,
            "trunk",
            float(p["trunk_lr"]),
            epochs=float(p["trunk_epochs"]),
            batch=int(p["batch"]),
            feature_weight=float(p["feature_weight"]),
        )

        def targets(idx: torch.Tensor, x: torch.Tensor) -> Any:
            if plan_t.feature_weight <= 0:
                return teacher(x)
            values = teacher.run_values(x)
            return values[cut], values[graph.output]

        if cached is not None:
            images, logits = cached
            tuned = fine_tune(
                pruned,
                images.x,
                images.y,
                lambda idx, x: logits[idx].to(device),
                (val.x, val.y),
                plan_t,
                device=device,
            )
        else:
            tuned = fine_tune(
                pruned,
                train.x,
                train.y,
                targets,
                (val.x, val.y),
                plan_t,
                device=device,
                augment=augment,
                features_at=cut,
            )
        pruned = pruned.cpu().eval()
        tensors = pruned.state_tensors()
        shapes = graph_cost(pruned, h, w).shapes
        final = split_at(small_graph, cut, shapes[cut][0], graph_cost(pruned, h, w).node_flops)
        return (
            small_graph,
            tensors,
            final,
            {
                "cut": cut,
                "keep_ratio": round(ratio, 4),
                "widths": counts,
                "flops_goal": float(p["trunk_goal"]),
                "reconstruction": refit,
                "fine_tune": tuned,
                "cut_share_of_origin_flops": round(split.trunk_flops_share, 4),
                "total_origin_flops": total,
            },
        )

    def _tails(
        self,
        graph: Graph,
        tensors: dict[str, torch.Tensor],
        classes: list[int],
        feats: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor,
        val_feats: torch.Tensor,
        val_y: torch.Tensor,
        settings: ExtractSettings,
        p: dict[str, Any],
        origin_flops: int,
        image_hw: tuple[int, int],
        origin_val: torch.Tensor,
    ) -> tuple[list[_Tail], dict[str, Any]]:
        """Cut one tail per class under a common width profile, then train them jointly (stacked)."""
        device = settings.device
        net = GraphNet(graph, tensors).to(device).eval()
        hw = (int(feats.shape[2]), int(feats.shape[3])) if feats.dim() == 4 else image_hw
        plan, flops, tail_flops = _plan(graph, tensors, hw)
        groups = variable_groups(plan)
        scale = tail_flops / origin_flops

        def cost_of(keep: np.ndarray) -> float:
            return scale * float(flops.ratio(torch.as_tensor(keep, dtype=torch.float32, device=device)))

        counts = width_profile(plan, groups, cost_of, float(p["tail_goal"]), int(p["align"]))
        ratio = sum(counts) / max(1, sum(len(g) for g in groups))
        gen = torch.Generator().manual_seed(settings.seed + 2)
        n_calib = int(p["reconstruct"])
        # drawn even with reconstruct_tails off: the tails' importance batches follow from ``gen``
        calib = (
            feats[torch.randperm(len(feats), generator=gen)[:n_calib]].to(device).float()
            if n_calib > 0
            else None
        )
        tails: list[_Tail] = []
        for c in tqdm(classes, desc="tail importance", disable=not settings.progress, leave=False):
            pos = torch.nonzero(labels == c).view(-1)
            neg = torch.nonzero(labels != c).view(-1)
            half = int(p["batch"]) // 2
            losses = []
            for _ in range(int(p["importance_batches"])):
                idx = torch.cat(
                    [
                        pos[torch.randint(len(pos), (half,), generator=gen)],
                        neg[torch.randint(len(neg), (half,), generator=gen)],
                    ]
                )
                x, y = feats[idx].to(device).float(), (labels[idx] == c).float().to(device)

                def loss(
                    gates: torch.Tensor, x: torch.Tensor = x, y: torch.Tensor = y, c: int = c
                ) -> torch.Tensor:
                    ovr = ovr_scores(net.run(x, gates=plan.gates(gates)))[:, c]
                    return F.binary_cross_entropy_with_logits(ovr, y)

                losses.append(loss)
            importance = fisher_importance(plan, losses, device)
            keep = keep_top(plan, groups, counts, importance)
            g, t = extract(graph, tensors, plan, keep)
            g, t = _head_for(g, t, c)
            if calib is not None and p["reconstruct_tails"]:
                student = GraphNet(g, t).to(device)
                kept = kept_indices(plan, keep) | {graph.output: torch.tensor([c])}
                reconstruct(student, net, kept, [n.name for n in g.nodes], calib)
                t = student.cpu().state_tensors()
            tails.append(_Tail(g, t, int(keep[~plan.fixed].sum())))
        # cached features make a step cheap: larger batches
        plan_t = _train_plan(
            p,
            settings,
            "tails",
            float(p["lr"]),
            epochs=float(p["tail_epochs"]),
            batch=max(int(p["batch"]), 256),
            ovr_weight=float(p["ovr_weight"]),
        )
        index = torch.as_tensor(classes)
        remap = torch.full((int(labels.max()) + 1 if len(labels) else 1,), -1, dtype=torch.long)
        remap[index] = torch.arange(len(classes))
        keep_rows = (
            torch.nonzero(remap[labels] >= 0).view(-1) if len(classes) > 1 else torch.arange(len(labels))
        )
        if len(tails) > 1:
            stacked = stack([t.graph for t in tails], [t.tensors for t in tails])
            joint = GraphNet(stacked.graph, stacked.tensors).to(device)
        else:
            joint = GraphNet(tails[0].graph, tails[0].tensors).to(device)
        val_rows = torch.nonzero(remap[val_y.clamp(max=len(remap) - 1)] >= 0).view(-1)
        val_labels = remap[val_y[val_rows]] if len(classes) > 1 else (val_y[val_rows] == classes[0]).long()
        if len(classes) == 1:
            self._single(joint, feats, labels, teacher_logits, val_feats, val_y, classes[0], plan_t, device)
            log = {"keep_ratio": round(ratio, 4), "widths": counts, "val_top1": float("nan")}
            tuned_tensors = [joint.cpu().state_tensors()]
        else:
            sub_labels = remap[labels[keep_rows]]
            sub_teacher = teacher_logits[keep_rows][:, index]
            tuned = fine_tune(
                joint,
                feats[keep_rows],
                sub_labels,
                lambda idx, x: sub_teacher[idx].to(device),
                (val_feats[val_rows], val_labels),
                plan_t,
                device=device,
            )
            base = float((origin_val[val_rows][:, index].argmax(1) == val_labels).float().mean())
            log = {
                "keep_ratio": round(ratio, 4),
                "widths": counts,
                "reconstruction_images": n_calib if p["reconstruct_tails"] else 0,
                "flops_goal": float(p["tail_goal"]),
                "fine_tune": tuned,
                "val_top1": tuned["val_top1"],
                "origin_val_top1_on_these_classes": round(base, 5),
            }
            state = joint.cpu().state_tensors()
            tuned_tensors = unstack_tensors(state, [t.graph for t in tails], [t.tensors for t in tails])
        out = [_Tail(t.graph, tt, t.kept) for t, tt in zip(tails, tuned_tensors, strict=True)]
        return out, log

    def _single(
        self,
        net: GraphNet,
        feats: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor,
        val_feats: torch.Tensor,
        val_y: torch.Tensor,
        c: int,
        plan: TrainPlan,
        device: str,
    ) -> None:
        """One class alone: train its score as a one-vs-rest log-odds distilled from the origin's."""
        ovr_teacher = ovr_scores(teacher_logits)[:, c]
        two_way = torch.stack([torch.zeros_like(ovr_teacher), ovr_teacher], 1)
        binary = (labels == c).long()

        class _TwoWay(torch.nn.Module):
            def __init__(self, inner: GraphNet) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                s = self.inner(x)
                return torch.cat([torch.zeros_like(s), s], 1)

        fine_tune(
            _TwoWay(net),
            feats,
            binary,
            lambda idx, x: two_way[idx].to(device),
            (val_feats, (val_y == c).long()),
            plan,
            device=device,
        )
