"""Exceptions typed by meaning.

Each carries what a user needs to fix the problem. They are translated at the
edges only: to an HTTP status and JSON body by the server, to a failure file
and exit code by the jobs.
"""

from __future__ import annotations


class ByocError(Exception):
    """Base class: a problem the caller can fix, described in `message`."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SettingsError(ByocError):
    """An environment variable or configuration value is invalid."""

    code = "invalid_setting"


# --- serving -----------------------------------------------------------------
class InvalidInput(ByocError):
    status_code = 400
    code = "invalid_input"


class UnsupportedAccept(ByocError):
    status_code = 406
    code = "unsupported_accept"


class PayloadTooLarge(ByocError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedContentType(ByocError):
    status_code = 415
    code = "unsupported_content_type"


class ModelNotReady(ByocError):
    status_code = 503
    code = "model_not_ready"


# --- model bundle ------------------------------------------------------------
class BundleError(ByocError):
    """The model bundle is missing, incomplete or was made by incompatible libraries."""

    status_code = 503
    code = "model_not_ready"


# --- jobs --------------------------------------------------------------------
class JobInputError(ByocError):
    """A training or processing job's configuration or data is unusable."""

    code = "invalid_job_input"
