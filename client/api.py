"""The Python API: one :class:`Client` holds home, registries and device; the CLI stands on it.

::

    from nnparts.client import Client

    client = Client(registries=["./team-registry"])
    origin = client.import_model(my_cnn, name="my-cnn", classes=[...], input={...})
    packages = client.decompose(origin, "digits")
    for p in packages:
        client.publish(p)
    lock = client.install(["3", "7"])
    model = client.assemble(lock)          # a torch.nn.Module: uint8 NHWC images -> log-odds
    client.evaluate(model, "digits")

Each method delegates to one layer (``zoo`` imports and traces, ``extract`` cuts, ``resolve``
publishes, installs and fetches, ``assemble`` builds); nothing here reads or writes files itself.
Results are frozen dataclasses. Errors are :class:`~nnparts.schemas.errors.NnpartsError` subclasses.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from nnparts.client.data import DataSpec, check_spec
from nnparts.client.device import resolve_device
from nnparts.client.home import nnparts_home
from nnparts.client.pack.build import slug
from nnparts.client.progress import progress_wanted
from nnparts.client.resolve import Constraints, Lockfile
from nnparts.index import IndexBackend, open_index
from nnparts.schemas.errors import UnknownClass, UsageError
from nnparts.schemas.index_entry import IndexEntry
from nnparts.schemas.manifest import InputSpec, ModuleManifest

#: keyword arguments of :meth:`Client.reengineer` that are named parameters of the pipeline
_REENGINEER_NAMED = frozenset(
    {"granularity", "target_retention", "alpha", "lr_mask", "epochs", "fine_tune", "cost", "measure_latency"}
)


@dataclass(frozen=True)
class Origin:
    """An origin-model package on disk (``model.json`` + weights)."""

    path: Path
    name: str
    architecture: str
    classes: tuple[str, ...]
    dataset: str
    input: InputSpec


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


def _as_input(value: InputSpec | Mapping[str, Any]) -> InputSpec:
    if isinstance(value, InputSpec):
        return value
    try:
        return InputSpec.from_dict(dict(value))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"input lacks or mistypes {exc}: {dict(value)!r}", hint="give channels, height, width, mean, std"
        ) from exc


class Client:
    """nnparts for scripts and notebooks.

    Args:
        home: local state (install cache, default registry, work folders); default ``$NNPARTS_HOME``
            or ``~/.cache/nnparts``.
        registries: folders and ``http(s)://`` URLs, highest priority first (as ``--registry``);
            default: the local registry at ``home``.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda[:N]`` or ``mps``.
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
            raise UsageError(f"batch_size must be positive, got {batch_size}")
        self.home = Path(home).expanduser() if home is not None else nnparts_home()
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.progress = progress_wanted(not progress)
        self._token = token
        specs = [os.fspath(r) for r in registries] if registries else [os.fspath(self.home)]
        self.registries: tuple[IndexBackend, ...] = tuple(self._open(s) for s in specs)
        self._paths: weakref.WeakKeyDictionary[nn.Module, Path] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Client(home={str(self.home)!r}, registries={[r.url for r in self.registries]!r})"

    @property
    def installed(self) -> Path:
        """The content-addressed install cache, ``home/installed``."""
        return self.home / "installed"

    def _open(self, spec: str | os.PathLike[str]) -> IndexBackend:
        return open_index(spec, token=self._token)

    # -- publish side ------------------------------------------------------------------------------

    def import_model(
        self,
        module_or_path: nn.Module | str | os.PathLike[str],
        *,
        name: str,
        classes: Sequence[str] | None = None,
        input: InputSpec | Mapping[str, Any] | None = None,
        arch: str | None = None,
        arch_kwargs: Mapping[str, Any] | None = None,
        dataset: str = "unknown",
        license: str = "",
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
    ) -> Origin:
        """Save a trained model as an origin package (default ``home/origins/<name>``).

        ``module_or_path`` is an ``nn.Module`` from your own code (traced with ``torch.fx``; the
        package records its graph as data, never code) or a safetensors file (then ``arch`` names
        its architecture, as ``nnparts model import --arch``). ``input`` takes the mapping
        ``--input-spec`` takes: channels, height, width, mean, std.

        Raises:
            UsageError: no class names or input spec for a module, an existing package.
            GraphError: the module cannot be traced (names the operation).
        """
        from nnparts.client.zoo.architectures import GRAPH_ARCHITECTURE
        from nnparts.client.zoo.origin import import_model, save_origin
        from nnparts.client.zoo.runtime import GraphNet
        from nnparts.client.zoo.trace import trace_model

        target = Path(out) if out is not None else self.home / "origins" / name
        spec = _as_input(input) if input is not None else None
        if isinstance(module_or_path, nn.Module):
            if not classes or spec is None:
                raise UsageError(
                    "importing an nn.Module needs classes= and input=",
                    hint="e.g. input={'channels': 1, 'height': 8, 'width': 8, 'mean': [0.5], 'std': [0.5]}",
                )
            traced = trace_model(module_or_path.cpu())
            net = GraphNet(traced.graph, traced.params)
            save_origin(
                net,
                target,
                name=name,
                architecture=GRAPH_ARCHITECTURE,
                arch_kwargs={"graph": traced.graph.to_dict()},
                classes=list(classes),
                dataset=dataset,
                input_spec=spec,
                license=license,
                overwrite=overwrite,
            )
        else:
            import_model(
                arch,
                [Path(module_or_path)],
                out_dir=target,
                arch_kwargs=arch_kwargs,
                classes=classes,
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
        return Origin(Path(path), meta.name, meta.architecture, meta.classes, meta.dataset, meta.input)

    def decompose(
        self,
        origin: Origin | str | os.PathLike[str],
        data: str | DataSpec,
        *,
        classes: Sequence[str] | None = None,
        out: str | os.PathLike[str] | None = None,
        method: str = "trunk",
        version: str = "1.0.0",
        seed: int = 0,
        overwrite: bool = False,
        **settings: Any,
    ) -> list[Package]:
        """Cut one module per class (default: a shared trunk package plus one class module each).

        ``settings`` are the method's parameters (``tail_epochs``, ``trunk_epochs``, ``tail_goal``,
        ``augment`` ...). Default ``out``: ``home/modules/<origin name>``. Selection uses train and
        val only; every module is measured on test. Warns (:class:`~nnparts.schemas.errors.NnpartsWarning`) when the
        origin's ``training.train_examples`` says it was trained on the val carved from train
        (then pass ``?val=test``).
        """
        from nnparts.client.extract.base import ExtractSettings
        from nnparts.client.extract.pipeline import decompose

        source = self._origin_path(origin)
        target = Path(out) if out is not None else self.home / "modules" / slug(self.origin(source).name)
        written = decompose(
            source,
            str(check_spec(data)),
            target,
            classes=classes,
            method=method,
            settings=self._settings(ExtractSettings, seed, settings),
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
        version: str = "1.0.0",
        seed: int = 0,
        overwrite: bool = False,
        **options: Any,
    ) -> Package:
        """Re-engineer a sub-model for ``target`` classes (SeaM). ``options``: ``granularity``,
        ``target_retention``, ``alpha``, ``epochs``, ``fine_tune``, ``cost``, ``measure_latency`` and
        the pipeline's extra knobs (``max_train``, ``augment_pad`` ...)."""
        from nnparts.client.extract.base import ExtractSettings
        from nnparts.client.extract.reengineer_pipeline import reengineer

        targets = [target] if isinstance(target, str) else list(target)
        source = self._origin_path(origin)
        named = {k: v for k, v in options.items() if k in _REENGINEER_NAMED}
        extra = {k: v for k, v in options.items() if k not in _REENGINEER_NAMED}
        default = self.home / "submodels" / f"{slug(self.origin(source).name)}-{slug('-'.join(targets))}"
        written = reengineer(
            source,
            str(check_spec(data)),
            Path(out) if out is not None else default,
            targets=targets,
            settings=self._settings(ExtractSettings, seed, extra),
            version=version,
            overwrite=overwrite,
            **named,
        )
        return Package(written.path, written.manifest)

    def publish(self, package: Package | str | os.PathLike[str], registry: str | None = None) -> str:
        """Publish ``package`` (and first its trunk, when the registry lacks it) to ``registry``
        (default: the first of :attr:`registries`); returns the published ``id@version``."""
        from nnparts.client.resolve.publish import publish_package

        index = self._open(registry) if registry is not None else self.registries[0]
        path = package.path if isinstance(package, Package) else Path(package)
        return publish_package(index, path)[-1].ref

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

    def install(
        self,
        classes: Sequence[str],
        *,
        lock: str | os.PathLike[str] | None = None,
        trust: Sequence[str | os.PathLike[str]] = (),
        **constraints: Any,
    ) -> Lockfile:
        """Resolve ``classes`` across the registries, install the chosen modules (verified) and
        return the lock (written to ``lock`` when given). ``constraints``: ``min_accuracy``,
        ``max_density``, ``prefer``, ``input`` (C, H, W)."""
        from nnparts.client.resolve import install
        from nnparts.client.trust import load_policy

        if isinstance(classes, str):
            classes = [classes]
        result = install(
            list(classes),
            self.registries,
            constraints=Constraints(**constraints),
            lock_path=None if lock is None else Path(lock),
            root=self.installed,
            gate=load_policy(self.home, [Path(t) for t in trust]),
        )
        return result.lock

    def install_frozen(self, lock: str | os.PathLike[str]) -> Lockfile:
        """Reinstall exactly what the lock file pins (offline when cached; else from its registries)."""
        return self._frozen(lock)[0]

    def assemble(
        self,
        lock_or_classes: Lockfile | str | os.PathLike[str] | Sequence[str],
        *,
        out: str | os.PathLike[str] | None = None,
        calibrate: Sequence[str] = (),
        abstain: float | None = None,
        rule: str = "argmax",
        name: str = "assembly",
        overwrite: bool = False,
    ) -> nn.Module:
        """Assemble the modules of a lock (a :class:`Lockfile`, a lock file path, or class names to
        install first) into a package (default ``home/assemblies/<name>``, replaced) and return its
        model: uint8 NHWC images in, one calibrated log-odds per class out (``.predict`` gives the
        class index, -1 when abstaining)."""
        from nnparts.client.assemble import assemble_paths

        paths, requested = self._locked_paths(lock_or_classes)
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
        return self.load(target)

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
        if isinstance(model, nn.Module):
            path = self._paths.get(model)
            if path is None:
                raise UsageError(
                    f"this {type(model).__name__} was not loaded by this client",
                    hint="pass the package folder, or a model from Client.load or Client.assemble",
                )
            return path
        return Path(model)

    def _frozen(self, lock: str | os.PathLike[str]) -> tuple[Lockfile, dict[str, Path]]:
        from nnparts.client.resolve import install_frozen, read_lockfile
        from nnparts.client.trust import load_policy

        pinned = read_lockfile(Path(lock))
        own = [self._open(url) for _, url in pinned.registries]  # the lock's own registries
        by_name: dict[str, IndexBackend] = {b.name: b for b in (*own, *self.registries)}
        result = install_frozen(
            Path(lock), registries=list(by_name.values()), root=self.installed, gate=load_policy(self.home)
        )
        return result.lock, result.paths

    def _locked_paths(
        self, lock_or_classes: Lockfile | str | os.PathLike[str] | Sequence[str]
    ) -> tuple[list[Path], tuple[str, ...]]:
        if isinstance(lock_or_classes, (str, os.PathLike)):
            lock, paths = self._frozen(lock_or_classes)
            return [paths[f"{m.id}@{m.version}"] for m in lock.modules], lock.requested
        if not isinstance(lock_or_classes, Lockfile):
            lock_or_classes = self.install(list(lock_or_classes))
        lock = lock_or_classes
        return [self.installed / m.manifest_sha256 for m in lock.modules], lock.requested
