"""The image in ECR: repository present, tag pushed, URI known.

Pushing itself is `build_and_push.sh` (docker build for linux/amd64, login,
push); the backend either runs it when asked to or only checks that the tag
is there, so a job never starts on an image AWS cannot pull.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from orchestration.aws.errors import aws_call, describe, is_not_found
from orchestration.backends.base import BackendError

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_AND_PUSH = REPO_ROOT / "build_and_push.sh"


def ensure_repository(ecr: Any, name: str, tags: dict[str, str]) -> str:
    """Describe or create the repository; returns its URI (no tag)."""
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as exc:
        if not is_not_found(exc):
            raise describe(exc, f"describing ECR repository {name}") from exc
        with aws_call(f"creating ECR repository {name}"):
            found = ecr.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability="MUTABLE",
                tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )["repository"]
    return found["repositoryUri"]


def image_digest(ecr: Any, repository: str, tag: str) -> str | None:
    """The pushed image's digest, or None when the tag is not in the repository."""
    try:
        details = ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageTag": tag}]
        )["imageDetails"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise describe(exc, f"describing image {repository}:{tag}") from exc
    return details[0]["imageDigest"] if details else None


def run_build_and_push(
    repository: str, tag: str, region: str, script: Path = BUILD_AND_PUSH
) -> None:
    if not script.is_file():
        raise BackendError(f"{script} is missing: cannot build and push the image")
    completed = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [
            "bash",
            str(script),
            "--repository",
            repository,
            "--tag",
            tag,
            "--region",
            region,
        ],
        env={**_environ(), "AWS_DEFAULT_REGION": region, "AWS_REGION": region},
        check=False,
    )
    if completed.returncode != 0:
        raise BackendError(
            f"{script.name} exited with {completed.returncode}: the image was not pushed (see its output above)"
        )


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)
