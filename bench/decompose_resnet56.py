"""Benchmark of trunk + tails on ResNet-56 (issue 17, "ResNet-56: the same cost bound").

    .venv/bin/python bench/decompose_resnet56.py --quick         # smoke run, a few minutes
    .venv/bin/python bench/decompose_resnet56.py --scale cpu     # the defaults on 2 CPU cores (~70 min)

``bench/decompose.py --scale cpu`` has no room for it: ResNet-56 costs about 3x ResNet-20 per image,
so its decomposition at the defaults takes about 70 minutes here on its own (about 4100 s,
projected from a stopped run: forwards 800 s, one trunk pass 902 s, tails 1.9 s per step). This
benchmark runs part (a) of ``bench/decompose.py`` for ``resnet56-cifar10`` alone, with the same
code, data halves
(val = the first 5000 test images, test = the other 5000) and the same targets: composed 10-class
top-1 against the origin's, FLOPs and bytes of one class and of each further class, decomposition
wall time against the origin's training time (training batches of ResNet-56 timed in the same run).
Writes ``bench/results/decompose-resnet56.json`` and ``.md``.
"""

from __future__ import annotations

import time
from typing import Any

from _common import start_session, targets_section, write_results
from decompose import TARGETS, a_table, a_targets, part_a, per_class_table

FIXTURE = "resnet56-cifar10"
CPU: dict[str, Any] = {
    "methods": {},
    "resnet56_methods": ["trunk"],
    "resnet56": {},  # decompose_trunk.DEFAULTS
    "val_per_class": None,
    "test_per_class": None,
    "train_timing_batches": 5,
}
QUICK: dict[str, Any] = CPU | {
    "resnet56": {"trunk_epochs": 0.05, "tail_epochs": 0.1, "max_train": 5000},
    "val_per_class": 100,
    "test_per_class": 50,
    "train_timing_batches": 2,
}
FULL: dict[str, Any] = CPU | {"train_timing_batches": 10}


def report(doc: dict[str, Any]) -> str:
    a = doc["a_decomposition_cost"]
    lines = [
        "# bench/decompose_resnet56.py",
        "",
        f"Command: `{doc['command']}`  ",
        f"Mode: **{doc['mode']}**; hardware: {doc['hardware']['cpu']}, {doc['hardware']['torch_threads']} torch "
        f"threads, device `{doc['hardware']['device']}`, load average at start "
        f"{doc['hardware']['load_average_at_start']}; wall time {doc['wall_seconds']:.0f} s.  ",
        f"Settings: `{doc['settings']}` (an empty `resnet56` means decompose_trunk's defaults)",
        "",
        a_table(a),
        "",
        "Per class: FLOPs of trunk + tail / bytes of trunk + tail / bytes of the tail alone:",
        "",
        per_class_table(a, FIXTURE),
        "",
        "Definitions as in bench/results/decompose.md (training time: timed SGD steps of ResNet-56 at "
        "batch 256 times the fixture's epochs and batches; cost ± x: 95 % interval of the paired difference).",
        "",
        *targets_section(doc, "Quick mode: a smoke run; its figures decide nothing."),
    ]
    return "\n".join(lines)


def main() -> None:
    session = start_session("decompose-resnet56", __doc__, QUICK, FULL, TARGETS, CPU)
    doc = session.doc
    doc["a_decomposition_cost"] = part_a(session.dec, session.cfg, session.device, fixtures=(FIXTURE,))
    doc["wall_seconds"] = round(time.perf_counter() - session.start, 1)
    doc["targets"] = a_targets(doc["a_decomposition_cost"])
    write_results("decompose-resnet56", doc, report(doc), session.out)


if __name__ == "__main__":
    main()
