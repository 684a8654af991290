"""What each orchestration package may import, as docs/architecture.md states it.

The steps never name a backend's package, the local backend never imports
boto3, the AWS one never the Docker SDK, and only `orchestration.backends`
picks a backend module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestration.config import REPO_ROOT

PACKAGE = REPO_ROOT / "orchestration"


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in PACKAGE.glob(pattern))


def starts(names: set[str], *prefixes: str) -> list[str]:
    return sorted(
        n for n in names if n.split(".")[0] in prefixes or n.startswith(prefixes)
    )


STEPS = (
    "lifecycle.py",
    "tune.py",
    "tuning.py",
    "batch.py",
    "rollout.py",
    "schedule.py",
    "specs.py",
    "cli.py",
    "alerts.py",
    "dataprep.py",
    "ingest.py",
    "pipelines.py",
    "lineage.py",
)


@pytest.mark.parametrize("path", modules(*STEPS), ids=lambda p: p.name)
def test_the_steps_never_name_a_backends_package(path):
    names = imports(path)
    assert starts(names, "orchestration.local", "orchestration.aws") == []
    assert (
        starts(names, "orchestration.backends.local", "orchestration.backends.aws")
        == []
    )
    assert starts(names, "boto3", "botocore", "docker") == []


@pytest.mark.parametrize("path", modules("local/*.py", "backends/local.py"), ids=str)
def test_the_local_backend_never_imports_aws(path):
    names = imports(path)
    assert starts(names, "boto3", "botocore", "orchestration.aws") == []
    assert starts(names, "orchestration.lifecycle", "orchestration.schedule") == []


@pytest.mark.parametrize("path", modules("aws/*.py", "backends/aws.py"), ids=str)
def test_the_aws_backend_never_imports_docker_or_the_local_one(path):
    names = imports(path)
    assert starts(names, "docker", "orchestration.local") == []
    assert starts(names, "orchestration.lifecycle", "orchestration.schedule") == []


def test_the_interface_imports_only_the_contract():
    names = imports(PACKAGE / "backends" / "base.py")
    ours = [n for n in names if n.startswith(("orchestration", "container"))]
    # orchestration.registry only for a type hint (TYPE_CHECKING).
    assert set(ours) <= {
        "container.contract.errors",
        "container.contract.errors.ByocError",
        "container.contract.paths",
        "container.contract.paths.OptMl",
        "orchestration.names",
        "orchestration.names.NAME_MAX_LENGTH",
        "orchestration.names.NAME_RULE",
        "orchestration.names.is_valid_name",
        "orchestration.registry",
        "orchestration.registry.ModelRegistry",
    }
