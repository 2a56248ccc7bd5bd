"""The Python API: one :class:`Client` holds home, registries and device; the CLI stands on it.

::

    from nnparts.client import Client

    client = Client(registries=["./team-registry"])
    origin = client.import_model(my_cnn, name="my-cnn", classes=[...], input={...})
    packages = client.decompose(origin, "digits")
    for p in packages:
        client.publish(p)
    installed = client.install(["3", "7"])  # lock, paths, picks
    model = client.assemble(installed)  # a torch.nn.Module: uint8 NHWC images -> log-odds
    client.evaluate(model, "digits")

Each method delegates to one layer (``zoo`` imports and traces, ``extract`` cuts, ``resolve``
publishes, installs and fetches, ``assemble`` builds); nothing here reads or writes files itself.
Results are frozen dataclasses (models are ``nn.Module`` s). Importing this module loads no torch:
the registry verbs (publish, search, show, list, yank, install) run without it. Errors are
:class:`~nnparts.schemas.errors.NnpartsError` subclasses.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnparts.client.data import DataSpec, check_spec
from nnparts.client.device import check_device, resolve_device
from nnparts.client.home import nnparts_home
from nnparts.client.progress import progress_wanted
from nnparts.client.resolve import Constraints, InstallResult, Lockfile
from nnparts.index import IndexBackend, open_index
from nnparts.schemas.errors import UnknownClass, UsageError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.manifest import InputSpec, ModuleManifest

if TYPE_CHECKING:  # torch loads when a method needs it: the registry verbs stay torch-free
    from torch import nn

    from nnparts.client.assemble import AssembledModel, OnnxExport, Prediction, Replacement
    from nnparts.client.quickstart import QuickstartReport
    from nnparts.client.resolve.fetch import ModuleInfo
    from nnparts.client.resolve.publish import Published, Signed
    from nnparts.client.trust import BundleReport
    from nnparts.client.zoo.meta import ModelMeta

#: :meth:`Client.reengineer`'s ``augment`` names -> the pipeline's training-batch augmentation knobs
_REENGINEER_AUGMENTS: Mapping[str, Mapping[str, Any]] = {
    "none": {},
    "crop": {"augment_pad": 4},
    "crop+flip": {"augment_pad": 4, "augment_flip": True},
}


@dataclass(frozen=True)
class Origin:
    """An origin-model package on disk (``model.json`` + weights); ``meta`` is its whole ``model.json``."""

    path: Path
    name: str
    architecture: str
    classes: tuple[str, ...]
    dataset: str
    input: InputSpec
    meta: ModelMeta = field(repr=False)


@dataclass(frozen=True)
class Package:
    """A module package on disk (a class module, trunk, sub-model or assembly)."""

    path: Path
    manifest: ModuleManifest = field(repr=False)

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def ref(self) -> str:
        return f"{self.manifest.id}@{self.manifest.version}"

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def classes(self) -> tuple[str, ...]:
        return self.manifest.class_names


@dataclass(frozen=True)
class Evaluation:
    """What :meth:`Client.evaluate` measured: accuracy on ``split`` (top-1, or one-vs-rest binary
    accuracy for a class module), the full report and, when asked, CPU latency in ms per batch size."""

    accuracy: float
    samples: int
    split: str
    report: Mapping[str, Any] = field(repr=False)
    latency_ms: Mapping[str, Any] | None = None


def input_spec(value: InputSpec | Mapping[str, Any], *, what: str = "input") -> InputSpec:
    """``value`` as an :class:`InputSpec` (a mapping of channels, height, width, mean, std).

    Raises:
        UsageError: a missing or mistyped field (``what`` names the argument in the message).
    """
    if isinstance(value, InputSpec):
        return value
    try:
        return InputSpec.from_dict(dict(value))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{what} lacks or mistypes {exc}: {dict(value)!r}", hint="give channels, height, width, mean, std"
        ) from exc


def input_shape(value: str | Sequence[int] | None) -> tuple[int, int, int] | None:
    """An input-shape constraint as (C, H, W), from the text ``CxHxW`` (as ``--input``) or three ints.

    Raises:
        UsageError: anything else.
    """
    if value is None or value == "":
        return None
    try:
        parts = value.lower().split("x") if isinstance(value, str) else list(value)
        c, h, w = (int(v) for v in parts)
    except (TypeError, ValueError):
        raise UsageError(f"--input {value!r} is not CxHxW", hint="e.g. --input 3x32x32") from None
    return c, h, w


def split_names(values: str | Sequence[str] | None, option: str = "--classes") -> list[str] | None:
    """Class names from ``values`` (a name, or several; each may be comma-separated, as repeated
    ``--classes`` options are), None when there are none.

    Raises:
        UsageError: an empty name between commas (``cat,`` or ``cat,,dog``: a typo, not a class).
    """
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    names = []
    for item in items:
        parts = [n.strip() for n in item.split(",")]
        if len(parts) > 1 and any(parts) and not all(parts):
            raise UsageError(
                f"{option} {item!r} is not a comma-separated list of class names", hint="e.g. cat,dog"
            )
        names += [n for n in parts if n]
    return names or None


def _check_decision(abstain: float | None, rule: str) -> None:
    """Refuse an assembly's decision settings before anything is read: ``abstain`` must be a
    probability in (0, 1), ``rule`` a known decision rule."""
    from nnparts.client.assemble.runtime import RULES
    from nnparts.client.extract.decompose_settings import in_range

    if abstain is not None:
        in_range("--abstain", abstain, high=1.0, high_open=True, what="a probability")
    if rule not in RULES:
        raise UsageError(f"unknown decision rule {rule!r}", hint=f"use one of {', '.join(RULES)}")


class Client:
    """nnparts for scripts and notebooks.

    Args:
        home: local state (install cache, default registry, work folders); default ``$NNPARTS_HOME``
            or ``~/.cache/nnparts``.
        registries: folders and ``http(s)://`` URLs, highest priority first (as ``--registry``);
            default: the local registry at ``home``.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda[:N]`` or ``mps``; checked now, resolved
            (with torch) when a method first computes.
        token: access token for Hub registries.
        batch_size: images per forward pass.
        progress: show progress bars (they are off anyway when stderr is not a terminal).
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        registries: Sequence[str | os.PathLike[str]] | None = None,
        device: str = "auto",
        *,
        token: str | None = None,
        batch_size: int = 256,
        progress: bool = True,
    ) -> None:
        if batch_size < 1:
            raise UsageError(f"--batch-size must be positive, got {batch_size}")
        self.home = Path(home).expanduser() if home is not None else nnparts_home()
        self._device = check_device(device)
        self._resolved: str | None = None
        self.batch_size = batch_size
        self.progress = progress_wanted(not progress)
        self._token = token
        specs = [os.fspath(r) for r in registries] if registries else [os.fspath(self.home)]
        self.registries: tuple[IndexBackend, ...] = tuple(self._open(s) for s in specs)
        self._paths: weakref.WeakKeyDictionary[nn.Module, Path] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Client(home={str(self.home)!r}, registries={[r.url for r in self.registries]!r})"

    @property
    def device(self) -> str:
        """The torch device methods compute on (``auto`` resolved on first use).

        Raises:
            UsageError: CUDA or MPS asked for but not available.
        """
        if self._resolved is None:
            self._resolved = resolve_device(self._device)
        return self._resolved

    @property
    def installed(self) -> Path:
        """The content-addressed install cache, ``home/installed``."""
        return self.home / "installed"

    def _open(self, spec: str | os.PathLike[str]) -> IndexBackend:
        return open_index(spec, token=self._token)

    def _registry(self, registry: str | os.PathLike[str] | None) -> IndexBackend:
        return self._open(registry) if registry is not None else self.registries[0]

    # -- publish side ------------------------------------------------------------------------------

    def import_model(
        self,
        module_or_weights: nn.Module | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        name: str | None = None,
        classes: str | Sequence[str] | None = None,
        input: InputSpec | Mapping[str, Any] | None = None,
        arch: str | None = None,
        arch_kwargs: Mapping[str, Any] | None = None,
        meta: str | os.PathLike[str] | None = None,
        dataset: str | None = None,
        license: str | None = None,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
    ) -> Origin:
        """Save a trained model as an origin package (default ``home/origins/<name>``).

        ``module_or_weights`` is an ``nn.Module`` from your own code (traced with ``torch.fx``; the
        package records its graph as data, never code; ``name``, ``classes`` and ``input`` are then
        required) or safetensors file(s) (several for a sharded state dict), as
        ``nnparts model import``: ``arch`` names the architecture, ``meta`` a fixture-style JSON
        (classes, input, accuracy ...) that explicit arguments override. ``input`` takes the mapping
        ``--input-spec`` takes: channels, height, width, mean, std. ``classes``: names in output
        order (each may be comma-separated).

        Raises:
            UsageError: no class names or input spec for a module, neither ``name`` nor ``out``,
                an existing package.
            GraphError: the module cannot be traced (names the operation).
            WeightsError: the weights do not fit the architecture.
        """
        from torch import nn

        from nnparts.client.zoo.architectures import GRAPH_ARCHITECTURE
        from nnparts.client.zoo.origin import import_model, save_origin
        from nnparts.client.zoo.runtime import GraphNet
        from nnparts.client.zoo.trace import trace_model

        if out is None and name is None:
            raise UsageError("an origin package needs name= or out=", hint="e.g. name='my-cnn'")
        target = Path(out) if out is not None else self.home / "origins" / str(name)
        spec = input_spec(input) if input is not None else None
        names = split_names(classes)
        if isinstance(module_or_weights, nn.Module):
            if not names or spec is None:
                raise UsageError(
                    "importing an nn.Module needs classes= and input=",
                    hint="e.g. input={'channels': 1, 'height': 8, 'width': 8, 'mean': [0.5], 'std': [0.5]}",
                )
            traced = trace_model(module_or_weights.cpu())
            save_origin(
                GraphNet(traced.graph, traced.params),
                target,
                name=name or target.name,
                architecture=GRAPH_ARCHITECTURE,
                arch_kwargs={"graph": traced.graph.to_dict()},
                classes=names,
                dataset=dataset or "unknown",
                input_spec=spec,
                license=license or "",
                overwrite=overwrite,
            )
        else:
            given = module_or_weights
            weights = [given] if isinstance(given, (str, os.PathLike)) else list(given)
            import_model(
                arch,
                [Path(w) for w in weights],
                out_dir=target,
                arch_kwargs=arch_kwargs,
                meta_json=None if meta is None else Path(meta),
                classes=names,
                name=name,
                dataset=dataset,
                input_spec=spec,
                license=license,
                overwrite=overwrite,
            )
        return self.origin(target)

    def origin(self, path: str | os.PathLike[str]) -> Origin:
        """The origin package at ``path`` (validated ``model.json``)."""
        from nnparts.client.zoo.meta import read_model_meta

        meta = read_model_meta(Path(path))
        return Origin(Path(path), meta.name, meta.architecture, meta.classes, meta.dataset, meta.input, meta)

    def decompose(
        self,
        origin: Origin | str | os.PathLike[str],
        data: str | DataSpec,
        *,
        classes: str | Sequence[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        method: str = "channel",
        trunk: str | float | None = "auto",
        trunk_goal: float | None = None,
        flops_goal: float | None = None,
        epochs: float | None = None,
        augment: str | None = None,
        version: str = "1.0.0",
        seed: int = 0,
        overwrite: bool = False,
    ) -> list[Package]:
        """Cut one module per class (``classes``: names, each may be comma-separated; default all).

        ``method``, ``trunk``, ``trunk_goal``, ``flops_goal``, ``epochs`` and ``augment`` are the
        ``nnparts decompose`` options, checked as
        :class:`~nnparts.client.extract.decompose_settings.DecomposeSettings` before anything loads
        (``channel``, the default: a shared trunk package plus one class module each). Default
        ``out``: ``home/modules/<origin name>``. Selection uses train and val only; every module is
        measured on test. Warns (:class:`~nnparts.schemas.errors.NnpartsWarning`) when the
        origin's ``training.train_examples`` says it was trained on the val carved from train
        (then pass ``?val=test``).

        Raises:
            UsageError: a setting out of range (the message names the option and the value).
            UnknownClass: a class the origin does not know.
        """
        from nnparts.client.extract.decompose_settings import DecomposeSettings

        chosen = DecomposeSettings(method, trunk, trunk_goal, flops_goal, epochs, augment)
        spec = str(check_spec(data))

        from nnparts.client.extract.base import ExtractSettings
        from nnparts.client.extract.pipeline import decompose
        from nnparts.client.pack.build import slug

        source = self._origin_path(origin)
        target = Path(out) if out is not None else self.home / "modules" / slug(self.origin(source).name)
        written = decompose(
            source,
            spec,
            target,
            classes=split_names(classes),
            method=chosen.extractor,
            settings=self._settings(ExtractSettings, seed, chosen.params()),
            version=version,
            overwrite=overwrite,
        )
        return [Package(w.path, w.manifest) for w in written]

    def reengineer(
        self,
        origin: Origin | str | os.PathLike[str],
        data: str | DataSpec,
        target: str | Sequence[str],
        *,
        out: str | os.PathLike[str] | None = None,
        granularity: str | None = None,
        target_retention: float | None = None,
        alpha: float | None = None,
        lr_mask: float | None = None,
        epochs: int | None = None,
        fine_tune: bool = False,
        cost: str | None = None,
        augment: str = "none",
        allocation: str | None = None,
        max_train: int | None = None,
        measure_latency: bool = True,
        version: str = "1.0.0",
        seed: int = 0,
        overwrite: bool = False,
    ) -> Package:
        """Re-engineer a sub-model for the ``target`` classes (SeaM; names, each may be
        comma-separated; one class: a binary sub-model), as ``nnparts reengineer`` (its options
        are these keywords).

        ``granularity``: ``weight``, ``kernel`` or ``channel``; ``target_retention``: prune to
        exactly this retention in (0, 1); ``alpha``: weight of the retention loss (>= 0);
        ``lr_mask``: Adam learning rate of the scores (> 0); ``epochs``: search epochs;
        ``fine_tune``: fine-tune the kept weights, masks enforced; ``cost``: ``params`` or
        ``flops`` (None: the pipeline's defaults, which ``nnparts reengineer --help`` shows); ``augment``: training-batch augmentation in search and fine-tuning, ``none``,
        ``crop`` (4-pixel reflect pad) or ``crop+flip``; ``allocation``: how weight/kernel
        retention is split over layers, ``erk`` or ``global`` (default: the pipeline's);
        ``max_train``: cap on training images of the target problem.

        Raises:
            UsageError: an unknown augment, allocation, granularity or cost; a number out of range
                (the message names the option and the value); an existing ``out``.
            UnknownClass: a target the origin does not know.
        """
        from nnparts.client.extract.decompose_settings import fraction, in_range, positive_int
        from nnparts.client.extract.seam_masks import ALLOCATIONS

        if augment not in _REENGINEER_AUGMENTS:
            raise UsageError(f"unknown augment {augment!r}", hint="use none, crop or crop+flip")
        if allocation is not None and allocation not in ALLOCATIONS:
            raise UsageError(f"unknown allocation {allocation!r}", hint="use erk or global")
        if alpha is not None:
            in_range("--alpha", alpha, low_open=False)
        if lr_mask is not None:
            in_range("--lr-mask", lr_mask)
        if epochs is not None:
            positive_int("--epochs", epochs)
        if target_retention is not None:
            fraction("--target-retention", target_retention, high_open=True)
        given = {
            "granularity": granularity,
            "alpha": alpha,
            "lr_mask": lr_mask,
            "epochs": epochs,
            "cost": cost,
        }
        named: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        extra: dict[str, Any] = dict(_REENGINEER_AUGMENTS[augment])
        if max_train is not None:
            extra["max_train"] = positive_int("--max-train", max_train)
        if allocation is not None:
            extra["allocation"] = allocation
        targets = split_names(target, "--target")
        if targets is None:
            raise UsageError(f"--target {target!r} names no class", hint="e.g. --target cat,dog")
        spec = str(check_spec(data))

        from nnparts.client.extract.base import ExtractSettings
        from nnparts.client.extract.reengineer_pipeline import reengineer
        from nnparts.client.pack.build import slug

        source = self._origin_path(origin)
        default = self.home / "submodels" / f"{slug(self.origin(source).name)}-{slug('-'.join(targets))}"
        written = reengineer(
            source,
            spec,
            Path(out) if out is not None else default,
            targets=targets,
            target_retention=target_retention,
            fine_tune=fine_tune,
            measure_latency=measure_latency,
            settings=self._settings(ExtractSettings, seed, extra),
            version=version,
            overwrite=overwrite,
            **named,
        )
        return Package(written.path, written.manifest)

    def sign(self, package: Package | str | os.PathLike[str], key: str | os.PathLike[str]) -> Signed:
        """Sign a module package folder in place (``package.sig``) with the PEM private ``key``
        (password in ``$NNPARTS_KEY_PASSWORD``).

        Raises:
            UsageError: extra files in the folder, or an unusable key.
        """
        from nnparts.client.resolve.publish import Signed
        from nnparts.client.trust import sign_package
        from nnparts.schemas.package import read_manifest

        path = self._package_path(package)
        signer = sign_package(path, key)
        m = read_manifest(path)
        return Signed(path, f"{m.id}@{m.version}", signer)

    def publish(
        self,
        package: Package | str | os.PathLike[str],
        registry: str | os.PathLike[str] | None = None,
        *,
        sign_key: str | os.PathLike[str] | None = None,
    ) -> Published:
        """Verify ``package`` and publish it (and first its trunk, when the registry lacks it) to
        ``registry`` (default: the first of :attr:`registries`); with ``sign_key``, sign each folder
        in place just before. ``str()`` of the result is the published ``id@version``."""
        from nnparts.client.resolve.publish import publish_package
        from nnparts.client.trust import sign_package

        sign = None if sign_key is None else (lambda folder: sign_package(folder, sign_key))
        path = self._package_path(package)
        return publish_package(self._registry(registry), path, sign=sign, trunk_search=(self.installed,))

    def yank(
        self,
        module_id: str,
        version: str | None = None,
        *,
        reason: str = "",
        registry: str | os.PathLike[str] | None = None,
    ) -> IndexEntry:
        """Mark ``module_id`` (at ``version``, default the latest) yanked in ``registry`` (default:
        the first): hidden from search, still installable by exact version (a lock keeps working)."""
        return self._registry(registry).yank(module_id, version, reason)

    # -- consume side ------------------------------------------------------------------------------

    def search(self, name: str, *, include_yanked: bool = False) -> list[IndexEntry]:
        """Modules providing class ``name`` (or alias) in every registry, in priority order.

        Raises:
            UnknownClass: no registry knows the class (the nearest names of the first one).
        """
        found: list[IndexEntry] = []
        unknown: UnknownClass | None = None
        for backend in self.registries:
            try:
                found += backend.search(name, include_yanked=include_yanked)
            except UnknownClass as err:
                unknown = unknown or err
        if not found and unknown is not None:
            raise unknown
        return found

    def list_modules(self, *, include_yanked: bool = True) -> list[IndexEntry]:
        """Every module version in every registry, in priority order (yanked ones too, by default)."""
        return [e for backend in self.registries for e in backend.list(include_yanked=include_yanked)]

    def show(self, ref: str, version: str | None = None) -> ModuleInfo:
        """One published module (``id``, ``id@version``, or ``id`` with ``version``) from the first
        registry holding it: its entry, verified manifest and claimed signer.

        Raises:
            ModuleNotFound: no registry holds it.
        """
        from nnparts.client.resolve.fetch import describe_ref

        if version is not None:
            if "@" in ref:
                raise UsageError(f"{ref!r} already names a version", hint="drop version= or the @VERSION")
            ref = f"{ref}@{version}"
        return describe_ref(self.registries, ref)

    def install(
        self,
        classes: str | Sequence[str] = (),
        *,
        lock: str | os.PathLike[str] | None = None,
        frozen: bool = False,
        trust: Sequence[str | os.PathLike[str]] = (),
        min_accuracy: float = 0.0,
        max_density: float = 1.0,
        prefer: str | None = None,
        input: str | tuple[int, int, int] | None = None,
    ) -> InstallResult:
        """Resolve ``classes`` across the registries, install the chosen modules and their trunks
        (verified, all or nothing) and pin them in a lock (written to ``lock`` when given).

        Constraints (:class:`~nnparts.client.resolve.Constraints`): ``min_accuracy``,
        ``max_density``, ``prefer`` (an origin), ``input`` (C, H, W, or the text ``CxHxW``).
        ``frozen``: reinstall exactly what the lock file ``lock`` pins instead, offline when the
        cache holds it (else from the lock's own registries, then :attr:`registries`). ``trust``:
        public keys one of which must have signed every package (``home/trust.toml`` adds rules).

        Raises:
            UsageError: a constraint out of range or a malformed ``input``; classes or constraints
                with ``frozen``.
            UnknownClass, ResolutionError: a class no registry knows, or none that meets the constraints.
            TrustError, IntegrityError: a package refused by the trust policy or its pins.
        """
        from nnparts.client.resolve import install, install_frozen, read_lockfile
        from nnparts.client.trust import load_policy

        wanted = [classes] if isinstance(classes, str) else list(classes)
        constraints = Constraints(
            min_accuracy=min_accuracy, max_density=max_density, prefer=prefer, input=input_shape(input)
        )
        gate = load_policy(self.home, [Path(t) for t in trust])
        if frozen:
            if lock is None:
                raise UsageError("a frozen install reinstalls a lock file", hint="pass lock=PATH")
            given = [f.name for f in fields(Constraints) if getattr(constraints, f.name) != f.default]
            if wanted or given:
                raise UsageError(
                    "a frozen install installs what the lock pins; name no classes or constraints",
                    hint=f"remove {' '.join([*wanted, *given])}",
                )
            pinned = read_lockfile(Path(lock))
            own = [self._open(url) for _, url in pinned.registries]  # the lock's own registries
            by_name: dict[str, IndexBackend] = {b.name: b for b in (*own, *self.registries)}
            return install_frozen(
                Path(lock), registries=list(by_name.values()), root=self.installed, gate=gate
            )
        return install(
            wanted,
            self.registries,
            constraints=constraints,
            lock_path=None if lock is None else Path(lock),
            root=self.installed,
            gate=gate,
        )

    def export_bundle(self, lock: str | os.PathLike[str], out: str | os.PathLike[str]) -> BundleReport:
        """Write every package the lock file pins, from the install cache, into the tar file ``out``
        (for a machine with no registry; see :meth:`import_bundle`).

        Raises:
            IntegrityError: a pinned package is not installed intact (install it first).
        """
        from nnparts.client.trust import export_bundle

        return export_bundle(lock, out, root=self.installed)

    def import_bundle(
        self,
        bundle: str | os.PathLike[str],
        *,
        trust: Sequence[str | os.PathLike[str]] = (),
        lock: str | os.PathLike[str] | None = None,
    ) -> BundleReport:
        """Put every package of ``bundle`` into the install cache, hash-checked, all or none (with
        ``trust``: each signed by one of these keys); ``lock`` receives the bundled lock. Then
        ``install(lock=..., frozen=True)`` needs no registry."""
        from nnparts.client.trust import import_bundle, load_policy

        gate = load_policy(self.home, [Path(t) for t in trust])
        return import_bundle(bundle, root=self.installed, gate=gate, lock_out=lock)

    def assemble(
        self,
        lock_or_classes: InstallResult | Lockfile | str | os.PathLike[str] | Sequence[str],
        *,
        out: str | os.PathLike[str] | None = None,
        calibrate: Sequence[str | DataSpec] = (),
        abstain: float | None = None,
        rule: str = "argmax",
        name: str = "assembly",
        overwrite: bool = False,
    ) -> AssembledModel:
        """Assemble the modules of a lock (an :meth:`install` result, a :class:`Lockfile`, a lock
        file path, or class names to install first) into a package (default
        ``home/assemblies/<name>``, replaced) and return its model: uint8 NHWC images in, one
        calibrated log-odds per class out (``.predict`` gives the class index, -1 when abstaining):
        ``abstain`` (a probability in (0, 1)) answers -1 below it; ``rule``: ``argmax`` of the
        calibrated scores or Pan & Rajan's ``vote``.

        Raises:
            UsageError: an abstain threshold outside (0, 1) or an unknown rule (before anything
                is read).
        """
        _check_decision(abstain, rule)
        paths, requested = self._locked_paths(lock_or_classes)
        return self._compose(paths, requested, out, calibrate, abstain, rule, name, overwrite)

    def compose(
        self,
        packages: Sequence[Package | str | os.PathLike[str]],
        *,
        out: str | os.PathLike[str] | None = None,
        calibrate: Sequence[str | DataSpec] = (),
        abstain: float | None = None,
        rule: str = "argmax",
        name: str = "assembly",
        overwrite: bool = False,
    ) -> AssembledModel:
        """:meth:`assemble` for module package folders (no registry, no lock): their classes in
        the packages' order.

        Raises:
            FileMissing: a package that is not a folder.
            UsageError: as :meth:`assemble`.
        """
        from nnparts.schemas.errors import FileMissing

        _check_decision(abstain, rule)
        paths = [self._package_path(p) for p in packages]
        for p in paths:
            if not p.is_dir():
                raise FileMissing(str(p), hint="a package is a module package folder")
        return self._compose(paths, None, out, calibrate, abstain, rule, name, overwrite)

    def replace(
        self,
        assembly: nn.Module | Package | str | os.PathLike[str],
        class_name: str,
        module: Package | str | os.PathLike[str],
        *,
        out: str | os.PathLike[str] | None = None,
    ) -> Replacement:
        """Swap the module answering ``class_name`` in an assembled package (in place, or written to
        ``out``) for ``module``: a package folder, or a reference ``id[@version]`` fetched (with its
        trunk, verified) from the first registry holding it. A stitching head is dropped (it was
        fitted to the old part): assemble again with ``calibrate`` to refit one.

        Raises:
            UsageError: no such class, a multi-class part, a module that does not provide the class.
            ModuleNotFound: no registry holds the reference.
        """
        from nnparts.client.assemble import replace_part
        from nnparts.client.resolve.fetch import fetch_ref

        ref = os.fspath(module.path if isinstance(module, Package) else module)
        part = Path(ref) if Path(ref).is_dir() else fetch_ref(self.registries, ref, root=self.installed)
        return replace_part(
            self._package_path(assembly),
            class_name,
            part,
            out=None if out is None else Path(out),
            module=ref,
            trunk_search=[self.installed],
        )

    def export_onnx(
        self, model: nn.Module | Package | str | os.PathLike[str], path: str | os.PathLike[str]
    ) -> OnnxExport:
        """Export an assembled package (or a model :meth:`assemble` returned) to ONNX at ``path``:
        uint8 NHWC images in, decision scores out; checked against onnxruntime when installed.

        Raises:
            IntegrityError: onnxruntime and PyTorch disagree.
        """
        from nnparts.client.assemble import export_onnx, load_assembly

        return export_onnx(load_assembly(self._package_path(model)), Path(path))

    def predict(
        self,
        model: nn.Module | Package | str | os.PathLike[str],
        images: Sequence[str | os.PathLike[str]],
    ) -> list[Prediction]:
        """The class of each image file (any size; converted as the model's input spec says) by an
        assembled package or a model :meth:`assemble` or :meth:`load` returned. Every file is
        checked before the model is loaded.

        Raises:
            FileMissing: an image that is not there.
            UsageError: a model that is not an assembly.
        """
        from nnparts.client.assemble import AssembledModel, check_images, load_assembly, predict_images

        paths = check_images([Path(i) for i in images])
        if isinstance(model, (Package, str, os.PathLike)):
            loaded: Any = load_assembly(self._package_path(model)).model().to(self.device)
        else:
            loaded = model
        if not isinstance(loaded, AssembledModel):
            raise UsageError(
                f"predict takes an assembled model, got a {type(loaded).__name__}",
                hint="assemble or compose the module first",
            )
        return predict_images(loaded, paths)

    def load(self, path_or_ref: str | os.PathLike[str] | Package | Origin) -> nn.Module:
        """A runnable ``nn.Module`` (eval mode, on :attr:`device`) from a package folder (origin,
        module, trunk, sub-model, assembly) or a registry reference ``id[@version]`` (fetched and
        verified into the install cache first).

        An origin or module takes normalised NCHW tensors; an assembly or sub-model takes uint8
        NHWC images (it converts them itself).
        """
        from nnparts.client.assemble import load_assembly
        from nnparts.client.assemble.build import draft_assembly, parts_from_paths
        from nnparts.client.pack.loader import load_package
        from nnparts.client.resolve.fetch import fetch_ref
        from nnparts.client.zoo.meta import MODEL_JSON
        from nnparts.client.zoo.origin import load_origin
        from nnparts.schemas.package import MANIFEST_NAME, read_manifest

        if isinstance(path_or_ref, (Package, Origin)):
            path = path_or_ref.path
        elif Path(path_or_ref).is_dir():
            path = Path(path_or_ref)
        else:
            path = fetch_ref(self.registries, os.fspath(path_or_ref), root=self.installed)
        model: nn.Module
        if (path / MODEL_JSON).is_file() and not (path / MANIFEST_NAME).is_file():
            model = load_origin(path).module
        else:
            m = read_manifest(path)
            if m.kind == "assembled":
                model = load_assembly(path).model()
            elif m.output_type == "logits":
                model = draft_assembly(*parts_from_paths([path])).model()
            else:
                model = load_package(path, trunk_search=[self.installed]).network()
        model = model.to(self.device).eval()
        self._paths[model] = path
        return model

    def evaluate(
        self,
        model: nn.Module | Package | Origin | str | os.PathLike[str],
        data: str | DataSpec | Sequence[str | DataSpec],
        *,
        split: str = "test",
        latency: bool = False,
    ) -> Evaluation:
        """Accuracy of a model this client loaded or assembled, or of a package folder, on ``split``
        of ``data`` (one spec, or several for an assembly); ``latency`` adds CPU latency.

        The report of a module package is :func:`~nnparts.client.assemble.build.evaluate_package`'s;
        that of an origin model holds ``model``, ``data`` and the per-class top-1 of
        :class:`~nnparts.client.zoo.evaluation.EvalResult`.
        """
        from nnparts.client.assemble.build import evaluate_package, image_model
        from nnparts.client.zoo.evaluation import align_classes, evaluate, load_any
        from nnparts.client.zoo.latency import interleaved_latency
        from nnparts.schemas.package import MANIFEST_NAME

        path = self._package_path(model)
        specs = [str(check_spec(d)) for d in ([data] if isinstance(data, (str, DataSpec)) else data)]
        if (path / MANIFEST_NAME).is_file():
            report = evaluate_package(
                path, specs, split=split, batch_size=self.batch_size, device=self.device
            )
            accuracy = float(report["overall"].get("accuracy", 0.0))
        else:
            if len(specs) != 1:
                raise UsageError("an origin model is evaluated on one data set", hint="pass one data spec")
            from nnparts.client.data import load_split

            loaded = load_any(path, device=self.device)  # FileMissing / UsageError for a wrong folder
            subset = align_classes(load_split(specs[0], split), loaded.classes)
            result = evaluate(
                loaded.module,
                subset,
                loaded.input_spec,
                batch_size=self.batch_size,
                device=self.device,
                progress=self.progress,
            )
            report = {"model": loaded.name, "data": subset.spec, **result.to_dict()}
            accuracy = result.top1
        timing = None
        if latency:
            run, shape = image_model(path)
            timing = interleaved_latency({"model": run}, shape)["model"]
        return Evaluation(accuracy, int(report["samples"]), split, report, timing)

    def quickstart(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        epochs: int = 30,
        tune_epochs: float = 3.0,
        log: Callable[[str], None] = print,
    ) -> QuickstartReport:
        """The end-to-end demo on the bundled digits: train two CNNs (0-4, 5-9), decompose them,
        publish the modules to the first registry, install all ten digits by class name, assemble
        a 0-9 classifier and compare it with a model trained from scratch. Origins, modules, the
        lock and the assembly go under ``workdir`` (default ``home/quickstart``), the installed
        modules into this client's install cache (:attr:`installed`); ``log`` gets one line per
        step. ``epochs``: training epochs per small CNN; ``tune_epochs``: fine-tuning epochs of
        the tails, in [0.05, 1000] (the trunk gets a third).

        Raises:
            UsageError: epochs that are not a positive integer, tune_epochs out of range.
        """
        from nnparts.client.extract.decompose_settings import in_range, positive_int

        positive_int("--epochs", epochs)
        in_range("--tune-epochs", tune_epochs, 0.05, 1000.0, low_open=False)

        from nnparts.client.quickstart import run_quickstart

        return run_quickstart(
            Path(workdir) if workdir is not None else self.home / "quickstart",
            self.registries[0],
            cache=self.installed,
            device=self.device,
            epochs=epochs,
            tune_epochs=tune_epochs,
            progress=self.progress,
            log=log,
        )

    # -- helpers -----------------------------------------------------------------------------------

    def _settings(self, cls: Any, seed: int, params: Mapping[str, Any]) -> Any:
        return cls(
            device=self.device,
            batch_size=self.batch_size,
            seed=seed,
            progress=self.progress,
            params=dict(params),
        )

    @staticmethod
    def _origin_path(origin: Origin | str | os.PathLike[str]) -> Path:
        return origin.path if isinstance(origin, Origin) else Path(origin)

    def _package_path(self, model: nn.Module | Package | Origin | str | os.PathLike[str]) -> Path:
        if isinstance(model, (Package, Origin)):
            return model.path
        if isinstance(model, (str, os.PathLike)):
            return Path(model)
        path = self._paths.get(model)
        if path is None:
            raise UsageError(
                f"this {type(model).__name__} was not loaded by this client",
                hint="pass the package folder, or a model from Client.load or Client.assemble",
            )
        return path

    def _compose(
        self,
        paths: list[Path],
        requested: Sequence[str] | None,
        out: str | os.PathLike[str] | None,
        calibrate: Sequence[str | DataSpec],
        abstain: float | None,
        rule: str,
        name: str,
        overwrite: bool,
    ) -> AssembledModel:
        from nnparts.client.assemble import AssembledModel, assemble_paths
        from nnparts.client.pack.build import slug

        target = Path(out) if out is not None else self.home / "assemblies" / slug(name)
        assemble_paths(
            paths,
            target,
            requested=requested,
            calibrate=[str(check_spec(c)) for c in calibrate],
            abstain=abstain,
            rule=rule,
            name=name,
            overwrite=overwrite or out is None,
        )
        model = self.load(target)
        assert isinstance(model, AssembledModel)
        return model

    def _locked_paths(
        self, lock_or_classes: InstallResult | Lockfile | str | os.PathLike[str] | Sequence[str]
    ) -> tuple[list[Path], tuple[str, ...]]:
        if isinstance(lock_or_classes, (str, os.PathLike)):
            result = self.install(lock=lock_or_classes, frozen=True)
        elif isinstance(lock_or_classes, InstallResult):
            result = lock_or_classes
        elif isinstance(lock_or_classes, Lockfile):
            lock = lock_or_classes
            return [self.installed / m.manifest_sha256 for m in lock.modules], lock.requested
        else:
            result = self.install(list(lock_or_classes))
        return result.module_paths(), result.lock.requested
