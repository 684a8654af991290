"""The local backend's fixtures (tests/orchestration/local/fixtures.py)."""

from tests.orchestration.local.fixtures import (  # noqa: F401 - fixtures
    backend,
    model_tarball,
    processed,
)
