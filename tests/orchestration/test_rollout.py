"""`deploy --variant`, `predict --variant` and `promote`, over the in-memory backend."""

from __future__ import annotations

import pytest

from orchestration import lifecycle, rollout
from tests.orchestration.test_lifecycle import calls
from tests.orchestration.test_lifecycle import project as project  # noqa: F401


def two_versions(project):  # noqa: F811 - the fixture of test_lifecycle
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    lifecycle.deploy(project)
    project.backend.accuracy = 0.99
    lifecycle.train(project)
    lifecycle.register(project)
    return project


def test_a_new_version_goes_beside_the_live_one_with_its_weight(project):  # noqa: F811
    two_versions(project)
    rollout.deploy_variant(project, "challenger", weight=0.25)
    (spec,) = calls(project, "deploy_variant")
    v2 = project.registry.get("penguins-species", 2)
    assert (spec.variant_name, spec.weight, spec.shadow) == ("challenger", 0.25, False)
    assert spec.model_artifact == v2.model_artifact
    assert spec.model_name.startswith("penguins-species-v2-challenger-")
    assert spec.environment["SKLEARN_BYOC_RETURN_PROBABILITIES"] == "true"
    known = project.state["endpoint"]["variants"]
    assert known == {
        "AllTraffic": {"version": 1, "shadow": False},
        "challenger": {"version": 2, "shadow": False},
    }
    rows = {r["variant_name"]: r for r in rollout.status(project)}
    assert rows["challenger"]["version"] == 2 and rows["AllTraffic"]["version"] == 1
    lifecycle.predict(project, limit=2, variant="challenger")
    assert calls(project, "target_variant") == ["challenger", "challenger"]


def test_promote_gives_the_winner_all_traffic_and_retires_the_rest(project):  # noqa: F811
    two_versions(project)
    rollout.deploy_variant(project, "challenger")
    rollout.deploy_variant(project, "shadow", shadow=True, version=1)
    with pytest.raises(lifecycle.LifecycleError, match="no variant 'nope'"):
        rollout.promote(project, "nope")
    rollout.promote(project, "challenger")
    assert calls(project, "set_variant_weights") == [{"challenger": 1.0}]
    assert calls(project, "remove_variants") == [["AllTraffic", "shadow"]]
    endpoint = project.state["endpoint"]
    assert endpoint["version"] == 2 and list(endpoint["variants"]) == ["challenger"]
    assert any("promoted challenger (version 2)" in line for line in project.said)


def test_a_variant_needs_a_deployed_endpoint(project):  # noqa: F811
    lifecycle.prepare(project)
    lifecycle.train(project)
    lifecycle.register(project)
    with pytest.raises(
        lifecycle.LifecycleError, match="run `python -m orchestration deploy`"
    ):
        rollout.deploy_variant(project, "b")


def test_monitor_variant_reads_only_that_variants_capture(project):  # noqa: F811
    two_versions(project)
    lifecycle.baseline(project)
    rollout.deploy_variant(project, "challenger")
    _, window = lifecycle.predict(project, limit=2, variant="challenger")
    lifecycle.monitor(project, *window, variant="challenger")
    spec = calls(project, "monitor")[-1]
    endpoint = project.state["endpoint"]["name"]
    key = f"input/endpoint/{endpoint}/challenger"
    assert spec.inputs[key].endswith(f"capture/{endpoint}/challenger")
    assert "input/endpoint" not in spec.inputs
    rows = {r["variant_name"]: r for r in rollout.status(project)}
    assert rows["challenger"]["monitor"]["violations"] == 1  # the backend's drift
    assert rows["AllTraffic"]["monitor"] is None
    with pytest.raises(lifecycle.LifecycleError, match="no variant 'nope'"):
        lifecycle.monitor(project, *window, variant="nope")


def test_promoting_a_shadow_replaces_every_variant_with_its_version(project):  # noqa: F811
    two_versions(project)
    rollout.deploy_variant(project, "shadow", shadow=True)
    rollout.promote(project, "shadow")
    update = calls(project, "update_endpoint")[-1]
    assert (
        update.model_artifact
        == project.registry.get("penguins-species", 2).model_artifact
    )
    endpoint = project.state["endpoint"]
    assert endpoint["version"] == 2 and "variants" not in endpoint
