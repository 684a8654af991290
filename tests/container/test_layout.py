"""The package rules of container/, checked on the source.

- `contract` imports nothing of the image but itself;
- `jobs` and `runtime_user` import only `contract`;
- `training`, `serving` and `monitoring` import only `contract`, `jobs` and
  themselves (serving never imports training: a worker would load the
  channel reader for nothing);
- nothing in container/ imports boto3 or docker.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTAINER = Path(__file__).resolve().parents[2] / "container"
ALLOWED = {
    "contract": {"contract"},
    "jobs": {"contract"},
    "runtime_user": {"contract"},
    "training": {"contract", "jobs", "training"},
    "serving": {"contract", "serving"},
    "monitoring": {"contract", "jobs", "monitoring"},
    "preparation": {"contract", "jobs", "preparation"},
    # Aliases for bundles of release 0.1.0 (see the module).
    "features": {"contract"},
}
FORBIDDEN = ("boto3", "botocore", "docker", "orchestration")


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_of(path: Path) -> str:
    return path.relative_to(CONTAINER).parts[0].removesuffix(".py")


MODULES = sorted(p for p in CONTAINER.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CONTAINER)))
def test_each_module_imports_only_what_its_package_may(path: Path):
    package = package_of(path)
    allowed = ALLOWED[package]
    for name in imports_of(path):
        parts = name.split(".")
        assert parts[0] not in FORBIDDEN, f"{path.name} imports {name}"
        if parts[0] != "container" or len(parts) < 2:
            continue
        assert parts[1] in allowed, f"{package}/{path.name} imports {name}"


def test_every_module_belongs_to_a_known_package():
    assert {package_of(p) for p in MODULES} <= set(ALLOWED)
