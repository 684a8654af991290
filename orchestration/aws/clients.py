"""boto3 clients built once per service from one session.

Request validation stays on (botocore's default), so a malformed request
fails on this machine with the parameter named, before anything is sent.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from orchestration.aws.settings import AwsSettings

SERVICES = ("s3", "ecr", "sagemaker", "sagemaker-runtime", "cloudwatch", "sns", "sts")


class AwsClients:
    """Lazily created boto3 clients sharing one session and endpoint."""

    def __init__(self, settings: AwsSettings, session: boto3.Session | None = None):
        self.settings = settings
        self.session = session or boto3.Session(
            profile_name=settings.profile, region_name=settings.region
        )
        self._clients: dict[str, Any] = {}
        self._config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            parameter_validation=True,
            user_agent_extra="sklearn-byoc",
        )

    def get(self, service: str) -> Any:
        if service not in SERVICES:
            raise ValueError(
                f"unknown service {service!r}; known: {', '.join(SERVICES)}"
            )
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                config=self._config,
            )
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.get("s3")

    @property
    def ecr(self) -> Any:
        return self.get("ecr")

    @property
    def sagemaker(self) -> Any:
        return self.get("sagemaker")

    @property
    def runtime(self) -> Any:
        return self.get("sagemaker-runtime")

    @property
    def cloudwatch(self) -> Any:
        return self.get("cloudwatch")

    @property
    def sns(self) -> Any:
        return self.get("sns")

    @property
    def sts(self) -> Any:
        return self.get("sts")
