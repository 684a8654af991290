"""Which host of a training job this is, and whether it trains.

A scikit-learn fit runs on one machine. With several instances (InstanceCount
> 1), every host would otherwise fit the same model from the same data and
upload it: the leader (the first host, ``algo-1``) trains, and the others log
why they do not and exit 0 without a model, so the job completes with the
leader's model.

A train channel with S3DistributionType ShardedByS3Key gives each host a
part of the data: the leader alone would train on its shard only, so such a
job is refused instead.

The hosts come from resourceconfig.json (what SageMaker writes), else from
the training toolkit's SM_CURRENT_HOST and SM_HOSTS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container.contract.paths import OptMl
from container.contract.settings import TrainingEnvironment
from container.training.errors import ConfigError

SHARDED = "ShardedByS3Key"


@dataclass(frozen=True)
class Cluster:
    current_host: str
    hosts: tuple[str, ...]

    @property
    def leader(self) -> str:
        return self.hosts[0]

    @property
    def is_leader(self) -> bool:
        return self.current_host == self.leader


def read_cluster(opt_ml: OptMl, env: TrainingEnvironment) -> Cluster:
    """This job's hosts; one host, "algo-1", when nothing says otherwise."""
    config = _resource_config(opt_ml)
    current = config.get("current_host") or env.current_host or "algo-1"
    hosts = tuple(config.get("hosts") or env.hosts or (current,))
    if current not in hosts:
        raise ConfigError(
            f"the current host {current!r} is not one of the job's hosts {list(hosts)} ({opt_ml.resourceconfig_file.name} or SM_CURRENT_HOST/SM_HOSTS)"  # noqa: E501
        )
    return Cluster(str(current), tuple(str(h) for h in hosts))


def _resource_config(opt_ml: OptMl) -> dict[str, Any]:
    path = opt_ml.resourceconfig_file
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    hosts = config.get("hosts") if isinstance(config, dict) else None
    if not isinstance(config, dict) or not (
        hosts is None or (isinstance(hosts, list) and hosts)
    ):
        raise ConfigError(
            f'{path} must be a JSON object like {{"current_host": "algo-1", "hosts": ["algo-1"]}}'  # noqa: E501
        )
    return config


def check_not_sharded(
    cluster: Cluster, inputdataconfig: Mapping[str, Mapping[str, Any]]
) -> None:
    """Refuse data split over the hosts: one host's fit would see part of it."""
    if len(cluster.hosts) < 2:
        return
    sharded = sorted(
        name
        for name, settings in inputdataconfig.items()
        if settings.get("S3DistributionType") == SHARDED
    )
    if sharded:
        raise ConfigError(
            f"channels {sharded} use S3DistributionType {SHARDED} on {len(cluster.hosts)} hosts, "  # noqa: E501
            "but train fits on one host, which would see only its shard. "
            "Use FullyReplicated, or one instance."
        )
