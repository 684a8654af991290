"""The /opt/ml layout of the SageMaker container contract, named once.

Everything that touches a file under /opt/ml asks an `OptMl` for its path.
The root defaults to /opt/ml; tests (and hand runs outside a container) point
it elsewhere with the environment variable ``SKLEARN_BYOC_OPT_ML`` or by
building ``OptMl(root)`` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/opt/ml"
ROOT_ENV_VAR = "SKLEARN_BYOC_OPT_ML"

# SageMaker's conventional channel names for the training data.
TRAIN_CHANNELS = ("train", "training")


@dataclass(frozen=True)
class OptMl:
    root: Path = Path(DEFAULT_ROOT)

    @classmethod
    def from_env(
        cls, environ: os._Environ[str] | dict[str, str] | None = None
    ) -> OptMl:
        env = os.environ if environ is None else environ
        return cls(Path(env.get(ROOT_ENV_VAR) or DEFAULT_ROOT))

    # --- training inputs -------------------------------------------------
    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def inputdataconfig_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resourceconfig_file(self) -> Path:
        # One SageMaker doc page spells it resourceConfig.json; read either.
        lower = self.config_dir / "resourceconfig.json"
        camel = self.config_dir / "resourceConfig.json"
        return camel if camel.exists() and not lower.exists() else lower

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    # --- training outputs ------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        """Named for completeness; `train` keeps no checkpoints (docs/training.md)."""
        return self.root / "checkpoints"

    # --- processing jobs (baseline, monitor) -----------------------------
    @property
    def processing_dir(self) -> Path:
        return self.root / "processing"

    @property
    def processing_input_dir(self) -> Path:
        return self.processing_dir / "input"

    @property
    def endpoint_input_dir(self) -> Path:
        return self.processing_input_dir / "endpoint"

    @property
    def baseline_dataset_dir(self) -> Path:
        return self.processing_input_dir / "baseline_dataset_input"

    @property
    def baseline_constraints_file(self) -> Path:
        return self.processing_dir / "baseline" / "constraints" / "constraints.json"

    @property
    def baseline_statistics_file(self) -> Path:
        return self.processing_dir / "baseline" / "stats" / "statistics.json"

    @property
    def processing_output_dir(self) -> Path:
        return self.processing_dir / "output"

    @property
    def message_file(self) -> Path:
        """Its first 1 KB becomes a processing job's exit message."""
        return self.output_dir / "message"

    @property
    def cloudwatch_metrics_dir(self) -> Path:
        return self.output_dir / "metrics" / "cloudwatch"

    def is_training_job(self) -> bool:
        """SageMaker mounts input/config only for training jobs."""
        return self.config_dir.is_dir()
