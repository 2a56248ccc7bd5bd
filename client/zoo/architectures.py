"""Architecture builders: a strict registry of named builders, torchvision models and import paths.

``build_model(arch, kwargs)`` understands three kinds of name:

* a registered name (``cifar_resnet20``, ``digits_cnn`` ...; see :func:`list_architectures`);
* ``torchvision:NAME``: any ``torchvision.models`` builder, always with ``weights=None`` (no downloads);
* ``package.module:function``: any importable factory returning an ``nn.Module``.

The CIFAR ResNets follow ``../shared/fixtures/README.md`` exactly (torchvision key names, option-B
shortcuts), so the fixture state dicts load strictly.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from nnparts.schemas.errors import UsageError

Builder = Callable[..., nn.Module]
_B = TypeVar("_B", bound=Builder)
_REGISTRY: dict[str, Builder] = {}
TORCHVISION_PREFIX = "torchvision:"


def register_architecture(name: str) -> Callable[[_B], _B]:
    """Decorator registering a builder under ``name``.

    Raises:
        UsageError: ``name`` is already registered, or contains ``:`` (reserved for the other forms).
    """
    if ":" in name or not name:
        raise UsageError(f"invalid architecture name {name!r}", hint="use letters, digits and underscores")

    def decorate(builder: _B) -> _B:
        if name in _REGISTRY:
            raise UsageError(f"architecture {name!r} is already registered", hint="choose another name")
        _REGISTRY[name] = builder
        return builder

    return decorate


def list_architectures() -> tuple[str, ...]:
    """The registered names, sorted."""
    return tuple(sorted(_REGISTRY))


def build_model(arch: str, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Build an untrained model.

    Args:
        arch: a registered name, ``torchvision:NAME`` or ``package.module:function``.
        kwargs: keyword arguments for the builder (e.g. ``num_classes``, ``in_channels``).

    Raises:
        UsageError: unknown name (with close names), a factory that cannot be imported or does not
            return an ``nn.Module``, or kwargs the builder rejects.
    """
    kw = dict(kwargs or {})
    if arch.startswith(TORCHVISION_PREFIX):
        builder = _torchvision_builder(arch[len(TORCHVISION_PREFIX) :])
    elif arch in _REGISTRY:
        builder = _REGISTRY[arch]
    elif ":" in arch:
        builder = _import_factory(arch)
    else:
        close = difflib.get_close_matches(arch, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(list_architectures())}"
        raise UsageError(
            f"unknown architecture {arch!r}",
            hint=hint + " (or use torchvision:NAME or package.module:function)",
        )
    try:
        model = builder(**kw)
    except TypeError as exc:
        raise UsageError(
            f"architecture {arch!r} rejects kwargs {kw}: {exc}", hint="fix --arch-kwargs"
        ) from exc
    if not isinstance(model, nn.Module):
        raise UsageError(f"architecture {arch!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _torchvision_builder(name: str) -> Builder:
    import torchvision.models

    known = torchvision.models.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = (
            f"did you mean {', '.join('torchvision:' + c for c in close)}?"
            if close
            else "see torchvision.models"
        )
        raise UsageError(f"unknown torchvision model {name!r}", hint=hint)

    def build(**kw: Any) -> nn.Module:
        if kw.pop("weights", None) is not None or kw.pop("weights_backbone", None) is not None:
            raise UsageError(
                "nnparts never downloads torchvision weights", hint="pass --weights FILE instead"
            )
        model: nn.Module = torchvision.models.get_model(name, weights=None, **kw)
        return model

    return build


def _import_factory(path: str) -> Builder:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UsageError(f"invalid factory path {path!r}", hint="write package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} for architecture {path!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(
                f"module {module_name!r} has no attribute {attr!r}", hint="check the factory path"
            )
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(f"{path!r} is not callable", hint="name a function or class returning an nn.Module")
    factory: Builder = target
    return factory


# --- CIFAR ResNet (He et al. 2016, CIFAR variant, option-B shortcuts, torchvision key names) ---


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut (identity or 1x1 conv + BN), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        result: torch.Tensor = self.relu2(out + shortcut)
        return result


class CifarResNet(nn.Module):
    """CIFAR ResNet of ``depth = 6n + 2`` layers: widths 16/32/64, global average pool, ``fc``."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise UsageError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110 ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(cin, cout, stride)]
        layers += [BasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        result: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return result


@register_architecture("cifar_resnet")
def cifar_resnet(depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet of any depth ``6n + 2``."""
    return CifarResNet(depth, num_classes, in_channels)


@register_architecture("cifar_resnet20")
def cifar_resnet20(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet-20 (0.27 M parameters for 10 classes)."""
    return CifarResNet(20, num_classes, in_channels)


@register_architecture("cifar_resnet32")
def cifar_resnet32(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet-32 (0.46 M parameters for 10 classes)."""
    return CifarResNet(32, num_classes, in_channels)


@register_architecture("cifar_resnet56")
def cifar_resnet56(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet-56 (0.86 M parameters for 10 classes)."""
    return CifarResNet(56, num_classes, in_channels)


# --- a small CNN for the 8x8 digits quickstart ---


@register_architecture("digits_cnn")
def digits_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """conv16-conv32-maxpool-conv64 (3x3, BN, ReLU) + global average pool + linear: 24 k parameters."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(in_channels, 16),
        *block(16, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


# --- a user's own network, recorded as the graph IR (data, never code) ---

#: the architecture name of an origin imported from an ``nn.Module`` (``Client.import_model``)
GRAPH_ARCHITECTURE = "graph"


@register_architecture(GRAPH_ARCHITECTURE)
def graph_network(graph: dict[str, Any]) -> nn.Module:
    """The network ``graph`` (a ``graph.json`` document) describes, with zero weights to load into.

    The graph is checked (schema, order, bounded attributes) before any layer is allocated.
    """
    from nnparts.client.zoo.ir import Graph
    from nnparts.client.zoo.runtime import GraphNet
    from nnparts.schemas.graph import param_shapes

    parsed = Graph.from_dict(graph, source="model.json arch_kwargs.graph")
    shapes = param_shapes([n.to_dict() for n in parsed.nodes])
    return GraphNet(parsed, {name: torch.zeros(shape) for name, shape in shapes.items()})
