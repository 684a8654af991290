"""AWS failures, translated into the project's typed errors at one edge.

boto3 raises `ClientError` with an error code and message, or botocore
exceptions for missing credentials and unreachable endpoints. `aws_call`
turns each into a `BackendError` that says what was being done, what AWS
answered and, where it is known, what to do about it, so the CLI can print
one line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from orchestration.backends.base import BackendError, ResourceNotFound


class AwsConfigError(BackendError):
    """The `aws:` config section is missing a key or holds a wrong value."""

    code = "invalid_aws_config"


class AwsCallFailed(BackendError):
    """An AWS API call was refused; `error_code` holds AWS's code."""

    def __init__(self, message: str, error_code: str = "", status_code: int = 500):
        super().__init__(message)
        self.error_code = error_code
        self.status_code = status_code


# Error codes meaning "no such resource", spelled differently per service.
_NOT_FOUND_CODES = {
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "404",
    "RepositoryNotFoundException",
    "ImageNotFoundException",
    "NotFound",
    "NotFoundException",
}
_HINTS = {
    "AccessDenied": "attach the policy for this step from infrastructure/",
    "AccessDeniedException": "attach the policy for this step from infrastructure/",
    "UnrecognizedClientException": "check the AWS credentials (AWS_PROFILE or keys)",
    "ExpiredToken": "the AWS session token expired: log in again",
    "ExpiredTokenException": "the AWS session token expired: log in again",
    "ResourceLimitExceeded": "ask for a quota increase or pick a smaller instance type",
    "ThrottlingException": "AWS throttled the call: retry in a minute",
}


def is_not_found(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    # SageMaker often answers a missing resource with a ValidationException
    # ("Could not find endpoint ...", "... does not exist").
    lowered = message.lower()
    return code in _NOT_FOUND_CODES or (
        code == "ValidationException"
        and ("could not find" in lowered or "does not exist" in lowered)
    )


def describe(exc: ClientError, action: str) -> AwsCallFailed:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = error.get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    notes = []
    metadata = exc.response.get("ResponseMetadata", {})
    if metadata.get("MaxAttemptsReached"):
        # botocore's retries (throttling, 5xx) ran out: say which call gave up.
        tries = metadata.get("RetryAttempts", 0) + 1
        notes.append(f"{exc.operation_name} tried {tries} times")
    if code in _HINTS:
        notes.append(_HINTS[code])
    text = f"{action} failed: {code}: {message}" + (
        f" ({'; '.join(notes)})" if notes else ""
    )
    if is_not_found(exc):
        return ResourceNotFound(text)  # type: ignore[return-value]
    return AwsCallFailed(text, error_code=code, status_code=status)


@contextmanager
def aws_call(action: str) -> Iterator[None]:
    """Run boto3 calls, re-raising their failures as `BackendError`s naming `action`."""
    try:
        yield
    except ClientError as exc:
        raise describe(exc, action) from exc
    except S3UploadFailedError as exc:
        # upload_file wraps the refused PutObject (or part) in its own error.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError):
            raise describe(cause, action) from exc
        raise AwsCallFailed(f"{action} failed: {exc}") from exc
    except NoCredentialsError as exc:
        raise AwsCallFailed(
            f"{action} failed: no AWS credentials found; set AWS_PROFILE (or aws.profile in the config) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from exc
    except NoRegionError as exc:
        raise AwsCallFailed(f"{action} failed: no region; set aws.region") from exc
    except ParamValidationError as exc:
        # A request our own code built wrong, or a value from the config that
        # AWS would refuse: say which parameter.
        raise AwsCallFailed(f"{action} failed: invalid request: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsCallFailed(f"{action} failed: {exc}") from exc
