"""nnparts.client.zoo: architecture builders, origin-model packages, training and evaluation (torch)."""

from __future__ import annotations

from nnparts.client.zoo.architectures import build_model, list_architectures, register_architecture
from nnparts.client.zoo.evaluation import EvalResult, LoadedModel, align_classes, evaluate, load_any
from nnparts.client.zoo.meta import Accuracy, MetaHints, ModelMeta, read_meta_json, read_model_meta
from nnparts.client.zoo.origin import OriginModel, import_model, load_origin, save_origin
from nnparts.client.zoo.training import Augment, EpochStats, TrainResult, train_classifier
from nnparts.client.zoo.weights import load_strict, read_weights

__all__ = [
    "Accuracy",
    "Augment",
    "EpochStats",
    "EvalResult",
    "LoadedModel",
    "MetaHints",
    "ModelMeta",
    "OriginModel",
    "TrainResult",
    "align_classes",
    "build_model",
    "evaluate",
    "import_model",
    "list_architectures",
    "load_any",
    "load_origin",
    "load_strict",
    "read_meta_json",
    "read_model_meta",
    "read_weights",
    "register_architecture",
    "save_origin",
    "train_classifier",
]
