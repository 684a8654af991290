"""What can be wrong with a training job's input, typed by meaning.

All are `JobInputError`s: the job shell writes their message as the failure
reason, with exit code 1.
"""

from __future__ import annotations

from container.contract.errors import JobInputError


class ConfigError(JobInputError):
    """A configuration file of the job (hyperparameters.json, ...) is unusable."""

    code = "invalid_job_config"


class DataError(JobInputError):
    """A channel's files are missing, unreadable or inconsistent."""

    code = "invalid_training_data"


class HyperparameterError(JobInputError):
    """A hyperparameter is unknown, malformed or out of range."""

    code = "invalid_hyperparameter"
