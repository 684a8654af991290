import pytest

from orchestration import registry
from orchestration.config import ApprovalRule
from orchestration.registry import APPROVED, PENDING, REJECTED, LocalRegistry


def add(reg, accuracy, group="g"):
    return reg.register(
        group,
        f"/m/{accuracy}.tar.gz",
        "img:1",
        {"validation:accuracy": accuracy},
        {"run_id": f"run-{accuracy}"},
    )


def test_versions_count_up_per_group_and_survive_reopening(tmp_path):
    reg = LocalRegistry(tmp_path)
    assert [add(reg, a).version for a in (0.9, 0.95)] == [1, 2]
    assert add(reg, 0.5, group="other").version == 1
    reg.close()
    again = LocalRegistry(tmp_path)
    versions = again.list("g")
    assert [(v.version, v.approval) for v in versions] == [(1, PENDING), (2, PENDING)]
    assert versions[1].lineage == {"run_id": "run-0.95"}
    assert versions[1].metrics == {"validation:accuracy": 0.95}


def test_approval_is_recorded_and_latest_approved_is_found(tmp_path):
    reg = LocalRegistry(tmp_path)
    for a in (0.9, 0.95, 0.97):
        add(reg, a)
    reg.set_approval("g", 1, APPROVED, "ok")
    reg.set_approval("g", 2, REJECTED, "bias")
    assert registry.latest(reg, "g", APPROVED).version == 1
    assert registry.latest(reg, "g").version == 3
    assert reg.get("g", 2).approval_reason == "bias"


def test_unknown_versions_and_statuses_are_clear_errors(tmp_path):
    reg = LocalRegistry(tmp_path)
    add(reg, 0.9)
    with pytest.raises(
        registry.VersionNotFound, match=r"no version 7; versions: \[1\]"
    ):
        reg.get("g", 7)
    with pytest.raises(registry.RegistryError, match="not one of Approved"):
        reg.set_approval("g", 1, "Maybe")


RULE = ApprovalRule(metric="validation:accuracy", threshold=0.9)


@pytest.mark.parametrize(
    ("candidate", "approved", "expected", "why"),
    [
        (0.95, None, APPROVED, "meets"),
        (0.85, None, PENDING, "below the threshold"),
        (0.93, 0.96, PENDING, "worse than approved version"),
        (0.96, 0.96, APPROVED, "meets"),
    ],
)
def test_auto_approval_rule(tmp_path, candidate, approved, expected, why):
    reg = LocalRegistry(tmp_path)
    prior = add(reg, approved) if approved is not None else None
    decision, reason = registry.auto_approval(RULE, add(reg, candidate), prior)
    assert decision == expected and why in reason


def test_auto_approval_for_lower_is_better_metrics_and_missing_metrics(tmp_path):
    reg = LocalRegistry(tmp_path)
    version = reg.register("g", "a", "i", {"validation:log_loss": 0.2}, {})
    rule = ApprovalRule(metric="validation:log_loss", threshold=0.3, direction="min")
    assert registry.auto_approval(rule, version, None)[0] == APPROVED
    decision, reason = registry.auto_approval(RULE, version, None)
    assert decision == PENDING and "not reported" in reason


QUALITY = registry.model_quality_metrics(
    "/state/baseline/q/statistics.json", "/state/quality/q/constraints.json"
)


def test_a_version_records_its_model_quality_baseline_as_model_metrics(tmp_path):
    reg = LocalRegistry(tmp_path)
    reg.register("g", "/m/a.tar.gz", "img:1", {}, {"run_id": "r"}, QUALITY)
    add(reg, 0.9)  # one registered without: none recorded
    reg.set_approval("g", 1, APPROVED, "ok")
    reg.close()
    first, second = LocalRegistry(tmp_path).list("g")
    assert first.model_metrics == {
        "ModelQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": "/state/baseline/q/statistics.json",
            },
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": "/state/quality/q/constraints.json",
            },
        }
    }
    assert first.to_dict()["model_metrics"] == first.model_metrics
    assert second.model_metrics == {}


def test_a_baseline_without_constraints_names_its_statistics_only():
    assert registry.model_quality_metrics("s3://b/p/statistics.json") == {
        "ModelQuality": {
            "Statistics": {
                "ContentType": "application/json",
                "S3Uri": "s3://b/p/statistics.json",
            }
        }
    }


def test_a_database_made_before_model_metrics_gains_the_column(tmp_path):
    import sqlite3

    old_schema = registry.SCHEMA.replace(
        "    model_metrics TEXT NOT NULL DEFAULT '{}',\n", ""
    )
    assert "model_metrics" not in old_schema
    conn = sqlite3.connect(tmp_path / "state.sqlite")
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("g", 1, "/m/a.tar.gz", "img:1", "{}", PENDING, "", "2026-01-01", "{}"),
    )
    conn.commit()
    conn.close()
    reg = LocalRegistry(tmp_path)
    assert reg.get("g", 1).model_metrics == {}
    new = reg.register("g", "/m/b.tar.gz", "img:1", {}, {}, QUALITY)
    assert reg.get("g", new.version).model_metrics == QUALITY
