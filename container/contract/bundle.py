"""The model bundle: what training leaves in /opt/ml/model and serving loads.

Layout (inside model.tar.gz, extracted at /opt/ml/model):

    model.joblib   the fitted scikit-learn Pipeline (preprocessing + estimator)
    model.json     the manifest: format version, schema, metrics, library
                   versions, input data hashes, job name, timestamps
    model.onnx     optional: the pipeline compiled to ONNX, when the manifest's
                   ``compiled`` section says it matched the pipeline
                   (container/contract/compiled.py)

The manifest is written last and atomically, so a folder holding model.json
holds a complete bundle; a job that fails removes what it wrote.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container.contract.errors import BundleError
from container.contract.files import temporary_prefix, write_atomic, write_json
from container.contract.schema import Schema

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "model.json"
COMPILED_FILE = "model.onnx"
FORMAT_VERSION = 1

# Libraries whose version decides whether a pickled pipeline loads correctly.
# scikit-learn only promises pickles within one minor release.
PINNED_LIBRARIES = ("scikit-learn",)
RECORDED_LIBRARIES = ("scikit-learn", "pandas", "numpy", "joblib", "scipy")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle. `pipeline` is unpickled on first use when deferred.

    `serve` defers it: when the compiled model answers, the pipeline (and
    with it scikit-learn, ~0.5 s and ~40 MB per server) is never imported.
    """

    manifest: dict[str, Any]
    schema: Schema
    # model.onnx's bytes, when the bundle has one (older bundles do not).
    compiled: bytes | None = None
    model_dir: Path | None = None
    # The unpickled pipeline once loaded (shared by copies of this bundle).
    loaded: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def pipeline(self) -> Any:
        if not self.loaded:
            if self.model_dir is None:
                raise BundleError(
                    "the bundle has no pipeline and no folder to load it from"
                )  # noqa: E501
            self.loaded.append(load_pipeline(self.model_dir))
        return self.loaded[0]

    @property
    def pipeline_loaded(self) -> bool:
        return bool(self.loaded)


def save_bundle(
    model_dir: Path,
    pipeline: Any,
    manifest: dict[str, Any],
    compiled: bytes | None = None,
) -> None:
    """Write model.joblib (and model.onnx), then model.json, which marks a bundle."""
    import joblib

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        **manifest,
        "libraries": manifest.get("libraries") or library_versions(),
    }
    (model_dir / MANIFEST_FILE).unlink(missing_ok=True)
    write_atomic(model_dir / MODEL_FILE, lambda fh: joblib.dump(pipeline, fh))
    if compiled is not None:
        write_atomic(model_dir / COMPILED_FILE, compiled)
    else:
        (model_dir / COMPILED_FILE).unlink(missing_ok=True)
    write_json(model_dir / MANIFEST_FILE, manifest, default=str)


def remove_bundle(model_dir: Path) -> None:
    """Remove a partial bundle (and temporary files) after a failed job."""
    model_dir = Path(model_dir)
    for name in (MANIFEST_FILE, MODEL_FILE, COMPILED_FILE):
        (model_dir / name).unlink(missing_ok=True)
        for tmp in model_dir.glob(temporary_prefix(model_dir / name) + "*"):
            tmp.unlink(missing_ok=True)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(
            f"no model bundle in {model_dir}: {MANIFEST_FILE} is missing. Expected the contents of a model.tar.gz written by this image's `train` ({MODEL_FILE} + {MANIFEST_FILE})."  # noqa: E501
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path} has format_version {manifest.get('format_version')!r}; "
            f"this image reads format_version {FORMAT_VERSION}. "
            "Retrain the model with this image."
        )
    return manifest


def check_library_versions(manifest: dict[str, Any]) -> None:
    """Refuse a pipeline pickled by another scikit-learn major.minor release."""
    trained = manifest.get("libraries", {})
    here = library_versions()
    for name in PINNED_LIBRARIES:
        was, now = trained.get(name), here.get(name)
        if was is None or now is None:
            continue
        if was.split(".")[:2] != now.split(".")[:2]:
            raise BundleError(
                f"the model was trained with {name} {was} but this image has {name} {now}; "  # noqa: E501
                "pickles only load within one minor release. "
                "Retrain the model with this image, "
                f"or serve it with an image built with {name}=={was}."
            )


def manifest_schema(manifest: dict[str, Any], model_dir: Path) -> Schema:
    """The feature schema a manifest holds, or BundleError saying why it is unusable."""
    try:
        return Schema.from_dict(manifest["schema"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(
            f"{Path(model_dir) / MANIFEST_FILE} has no valid schema: {exc}"
        ) from None


def load_bundle(model_dir: Path, *, defer_pipeline: bool = False) -> Bundle:
    """Read and check a bundle; `defer_pipeline` unpickles model.joblib on first use."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    check_library_versions(manifest)
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise BundleError(
            f"{model_path} is missing although {MANIFEST_FILE} is present"
        )
    schema = manifest_schema(manifest, model_dir)
    compiled_path = model_dir / COMPILED_FILE
    try:
        compiled = compiled_path.read_bytes() if compiled_path.is_file() else None
    except OSError:
        compiled = None  # serving falls back to the pipeline and says why
    bundle = Bundle(
        manifest=manifest, schema=schema, compiled=compiled, model_dir=model_dir
    )
    if not defer_pipeline:
        bundle.pipeline  # noqa: B018 - load now: a bad pickle fails here
    return bundle


def load_pipeline(model_dir: Path) -> Any:
    """Unpickle model.joblib; any failure or unpickling warning is a BundleError."""
    import joblib

    model_path = Path(model_dir) / MODEL_FILE
    # An unpickling warning (e.g. InconsistentVersionWarning) means answers may be
    # wrong: make it an error rather than a log line nobody reads.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return joblib.load(model_path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bundle problem
            raise BundleError(
                f"cannot load {model_path}: {type(exc).__name__}: {exc}"
            ) from None
