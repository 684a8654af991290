"""Errors of the monitoring jobs, typed by meaning.

They subclass the project's `JobInputError`, so the job shells turn them into
a failure message and a non-zero exit like every other job error.
"""

from __future__ import annotations

from container.contract.errors import JobInputError


class MonitoringInputError(JobInputError):
    """A monitoring job's configuration, dataset or baseline files are unusable."""

    code = "invalid_monitoring_input"


class NoDataError(MonitoringInputError):
    """The dataset (or the capture window) holds no records to analyse."""

    code = "no_data"
