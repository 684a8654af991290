"""Production and shadow variants on AWS: the requests, the calls, the faults.

Three layers, each for what it can show:

- the builders of `orchestration.aws.variants`, offline: every request passes
  botocore's validation and the service model's patterns, enums and lengths
  (`tests.service_model`), which botocore and moto skip;
- the backend against moto where moto implements the calls: models, endpoint
  configs, CreateEndpoint, DescribeEndpoint's CurrentWeight and
  UpdateEndpointWeightsAndCapacities. moto has no UpdateEndpoint (a
  `PartialStubber` answers it and `apply_updates_to_moto` switches moto's
  endpoint), keeps no ShadowProductionVariants (CreateEndpointConfig accepts
  and drops them) and cannot serialise GetMetricData's percentile statistics
  (a 500), so those are answered by the fake below;
- `FakeHosting`, a small SageMaker hosting written to the API reference
  (shadow variants, VariantStatus, an update that ends InService on the new
  config, rolls back, ends Failed or UpdateRollbackFailed), answering through
  botocore's `before-call` like the Stubber: faults no emulator produces.

Every request of every test is also checked against the service model (the
autouse fixture of tests/conftest.py), and the calls each path makes against
the IAM policy of the CLI step that makes them.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from orchestration.aws import alarms, hosting, variants
from orchestration.aws.errors import AwsCallFailed
from orchestration.aws.naming import MAX_LENGTH, timestamped
from orchestration.backends.base import (
    BackendError,
    CaptureSpec,
    EndpointFailed,
    EndpointSpec,
    UpdateRolledBack,
    VariantSpec,
)
from tests import iam_policies, service_model
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ENDPOINT,
    CallLog,
    PartialStubber,
    apply_updates_to_moto,
)
from tests.orchestration.test_aws_faults import no_backoff, throttle  # noqa: F401

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
ARTIFACT = f"s3://{BUCKET}/penguins/models/job/output/model.tar.gz"
ROLE = helpers.ROLE_ARN
TAGS = {"project": "sklearn-byoc"}
CAPTURE = f"s3://{BUCKET}/penguins/capture"
PING_FAILED = (
    "The primary container for production variant challenger did not pass the "
    "ping health check. Please check CloudWatch logs for this endpoint."
)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def variant_spec(name: str = "challenger", **overrides) -> VariantSpec:
    values: dict[str, Any] = dict(
        variant_name=name,
        model_name=f"penguins-species-{name}-v2",
        model_artifact=ARTIFACT,
        image=IMAGE,
        weight=1.0,
    )
    return VariantSpec(**{**values, **overrides})


def assert_aws_accepts(service: str, operation: str, request: dict) -> None:
    """What botocore checks, and what AWS checks that botocore does not."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert service_model.violations_of(shape, request, "") == []


def variant(name: str, model: str, weight: float = 1.0, shadow: bool = False):
    return variants.Variant(name, model, "ml.m5.large", 1, weight, shadow)


CONFIG = {
    "EndpointConfigName": "penguins-species-20260101-120000-000",
    "ProductionVariants": [
        {
            "VariantName": "AllTraffic",
            "ModelName": "penguins-species-v1",
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
            "VolumeSizeInGB": 4,
        }
    ],
    "DataCaptureConfig": hosting.data_capture_config(CaptureSpec(destination=CAPTURE)),
}


# --- the builders, against the service model ----------------------------------------
def test_two_production_variants_with_weights_build_requests_aws_accepts():
    before = [variant("AllTraffic", "penguins-species-v1", 3.0)]
    after = variants.with_variant(ENDPOINT, before, variant_spec(weight=1.0))
    assert [(v.variant_name, v.weight) for v in after] == [
        ("AllTraffic", 3.0),
        ("challenger", 1.0),
    ]
    config = variants.endpoint_config_request(
        timestamped(ENDPOINT), after, CONFIG, TAGS
    )
    assert_aws_accepts("sagemaker", "CreateEndpointConfig", config)
    assert [
        (v["VariantName"], v["InitialVariantWeight"])
        for v in config["ProductionVariants"]
    ] == [("AllTraffic", 3.0), ("challenger", 1.0)]
    assert config["DataCaptureConfig"] == CONFIG["DataCaptureConfig"]
    assert "ShadowProductionVariants" not in config
    update = variants.update_request(
        ENDPOINT, config["EndpointConfigName"], before, after, [], 3 * 3600
    )
    assert_aws_accepts("sagemaker", "UpdateEndpoint", update)
    # New variant names: no DeploymentConfig (guardrails need the same names).
    assert "DeploymentConfig" not in update
    weights = variants.weights_request(
        ENDPOINT, after, {"AllTraffic": 1.0, "challenger": 0.0}
    )
    assert_aws_accepts("sagemaker", "UpdateEndpointWeightsAndCapacities", weights)


def test_a_shadow_variant_goes_in_shadow_production_variants():
    before = [variant("AllTraffic", "penguins-species-v1")]
    after = variants.with_variant(
        ENDPOINT, before, variant_spec("shadow", weight=0.5, shadow=True)
    )
    config = variants.endpoint_config_request("penguins-cfg-2", after, CONFIG, TAGS)
    assert_aws_accepts("sagemaker", "CreateEndpointConfig", config)
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["AllTraffic"]
    (shadow,) = config["ShadowProductionVariants"]
    assert shadow["VariantName"] == "shadow"
    assert shadow["InitialVariantWeight"] == 0.5


def test_the_longest_names_sagemaker_allows_pass():
    longest = "v" * MAX_LENGTH
    endpoint = "e" * MAX_LENGTH
    before = [variant("a" * MAX_LENGTH, "m" * MAX_LENGTH)]
    spec = variant_spec(longest, model_name="n" * MAX_LENGTH)
    after = variants.with_variant(endpoint, before, spec)
    config_name = timestamped(endpoint)
    config = variants.endpoint_config_request(config_name, after, CONFIG, TAGS)
    assert_aws_accepts("sagemaker", "CreateEndpointConfig", config)
    model = hosting.model_request(variants.model_spec(endpoint, spec), ROLE, TAGS)
    assert_aws_accepts("sagemaker", "CreateModel", model)
    update = variants.update_request(
        endpoint,
        config_name,
        after,
        after,
        [alarms.quality_alarm_name_for(endpoint)],
        3600,
    )
    assert_aws_accepts("sagemaker", "UpdateEndpoint", update)
    assert_aws_accepts(
        "sagemaker",
        "UpdateEndpointWeightsAndCapacities",
        variants.weights_request(endpoint, after, {longest: 2.0}),
    )
    metrics = variants.metric_data_request(
        endpoint, [v.variant_name for v in after], NOW
    )
    assert_aws_accepts("cloudwatch", "GetMetricData", metrics)


def test_replacing_a_variant_is_blue_green_with_the_existing_rollback_alarms():
    before = [variant("AllTraffic", "penguins-species-v1", 2.0)]
    spec = variant_spec("AllTraffic", model_name="penguins-species-v2", weight=2.0)
    after = variants.with_variant(ENDPOINT, before, spec)
    assert [(v.model_name, v.weight) for v in after] == [("penguins-species-v2", 2.0)]
    quality = alarms.quality_alarm_name_for(ENDPOINT)
    update = variants.update_request(ENDPOINT, "cfg-2", before, after, [quality], 90)
    assert_aws_accepts("sagemaker", "UpdateEndpoint", update)
    assert update["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "ALL_AT_ONCE",
                "WaitIntervalInSeconds": 0,
            },
            "TerminationWaitInSeconds": variants.BAKING_SECONDS,
            # At least the service's minimum, whatever the backend waits.
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": quality}]},
    }
    # Without an alarm nothing could end a baking period early: none.
    plain = variants.deployment_config([], 10**6)
    assert plain["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 0
    assert plain["BlueGreenUpdatePolicy"]["MaximumExecutionTimeoutInSeconds"] == 28800
    assert "AutoRollbackConfiguration" not in plain


def test_rollback_alarms_leave_out_the_drift_and_silence_alarms():
    names = variants.rollback_alarm_names(ENDPOINT)
    assert names == [alarms.quality_alarm_name_for(ENDPOINT)]
    assert set(names) <= set(alarms.alarm_names_for(ENDPOINT))


def test_deployed_variants_carry_the_weights_and_counts_the_endpoint_runs_now():
    endpoint = {
        "EndpointStatus": "InService",
        "ProductionVariants": [
            # UpdateEndpointWeightsAndCapacities or autoscaling since the config.
            {
                "VariantName": "AllTraffic",
                "CurrentWeight": 0.25,
                "CurrentInstanceCount": 3,
            }
        ],
    }
    (deployed,) = variants.deployed(endpoint, CONFIG)
    assert (deployed.weight, deployed.instance_count) == (0.25, 3)
    entry = deployed.request()
    assert entry["InitialVariantWeight"] == 0.25
    assert entry["InitialInstanceCount"] == 3
    assert entry["VolumeSizeInGB"] == 4  # what the project does not set is kept


def test_variant_infos_read_weights_status_shadows_and_models():
    endpoint = {
        "EndpointStatus": "InService",
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentWeight": 1.0}],
        "ShadowProductionVariants": [
            {
                "VariantName": "shadow",
                "CurrentWeight": 0.5,
                "VariantStatus": [{"Status": "Baking", "StartTime": NOW}],
            }
        ],
    }
    config = {
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m1"}],
        "ShadowProductionVariants": [{"VariantName": "shadow", "ModelName": "m2"}],
    }
    infos = variants.variant_infos(endpoint, config, {"shadow": {"requests": 4}})
    assert [
        (i.variant_name, i.model_name, i.weight, i.shadow, i.status) for i in infos
    ] == [
        ("AllTraffic", "m1", 1.0, False, "InService"),
        ("shadow", "m2", 0.5, True, "Baking"),
    ]
    assert infos[1].traffic == {"requests": 4}


def test_traffic_is_counted_and_latency_given_in_milliseconds():
    results = [
        {"Id": "v0_requests", "Values": [200.0]},
        {"Id": "v0_errors_4xx", "Values": [6.0]},
        {"Id": "v0_errors_5xx", "Values": [4.0]},
        {"Id": "v0_latency_p50", "Values": [12500.0]},  # microseconds
        {"Id": "v0_latency_p99", "Values": [80250.0]},
    ]
    traffic = variants.traffic_from(["AllTraffic", "challenger"], results)
    assert traffic["AllTraffic"] == {
        "requests": 200,
        "errors_4xx": 6,
        "errors_5xx": 4,
        "error_rate": 0.05,
        "latency_p50_ms": 12.5,
        "latency_p99_ms": 80.25,
        "window_seconds": 3600,
    }
    assert traffic["challenger"]["requests"] == 0
    assert traffic["challenger"]["latency_p50_ms"] is None
    request = variants.metric_data_request(ENDPOINT, ["AllTraffic"], NOW)
    assert request["EndTime"] - request["StartTime"] == timedelta(hours=1)
    stats = {
        q["MetricStat"]["Metric"]["MetricName"] + ":" + q["MetricStat"]["Stat"]
        for q in request["MetricDataQueries"]
    }
    assert stats == {
        "Invocations:Sum",
        "Invocation4XXErrors:Sum",
        "Invocation5XXErrors:Sum",
        "ModelLatency:p50",
        "ModelLatency:p99",
    }


# --- refusals, before anything is created --------------------------------------------
@pytest.mark.parametrize("weight", [-0.5, math.nan, math.inf])
def test_a_weight_below_zero_or_not_a_number_is_refused(weight):
    before = [variant("AllTraffic", "m1")]
    with pytest.raises(BackendError, match="must be a number >= 0"):
        variants.with_variant(ENDPOINT, before, variant_spec(weight=weight))
    with pytest.raises(BackendError, match="must be a number >= 0"):
        variants.weights_request(ENDPOINT, before, {"AllTraffic": weight})


def test_a_shadow_as_the_only_variant_is_refused():
    shadow = variant_spec("AllTraffic", shadow=True)
    with pytest.raises(BackendError, match="needs a production variant"):
        variants.with_variant(ENDPOINT, [variant("AllTraffic", "m1")], shadow)


def test_a_shadow_needs_exactly_one_production_variant_beside_it():
    two = [variant("a", "m1"), variant("b", "m2")]
    with pytest.raises(BackendError, match="exactly one production variant"):
        variants.with_variant(ENDPOINT, two, variant_spec("s", shadow=True))
    with_shadow = [variant("a", "m1"), variant("s", "m2", shadow=True)]
    with pytest.raises(BackendError, match="one shadow at a time"):
        variants.with_variant(ENDPOINT, with_shadow, variant_spec("t", shadow=True))
    with pytest.raises(BackendError, match="exactly one production variant"):
        variants.with_variant(ENDPOINT, with_shadow, variant_spec("b"))


def test_more_than_ten_production_variants_are_refused():
    ten = [variant(f"v{i}", f"m{i}") for i in range(10)]
    with pytest.raises(BackendError, match="at most 10"):
        variants.with_variant(ENDPOINT, ten, variant_spec("v10"))


def test_weights_leaving_no_production_traffic_are_refused():
    before = [variant("a", "m1"), variant("s", "m2", 1.0, shadow=True)]
    with pytest.raises(
        BackendError, match="every production variant would have weight 0"
    ):
        variants.weights_request(ENDPOINT, before, {"a": 0.0})


def test_a_model_name_already_serving_is_refused():
    with pytest.raises(BackendError, match="already serves variant AllTraffic"):
        variants.with_variant(
            ENDPOINT,
            [variant("AllTraffic", "penguins-species-v1")],
            variant_spec(model_name="penguins-species-v1"),
        )


def test_an_invalid_variant_name_is_refused():
    with pytest.raises(BackendError, match="variant name 'new_one'"):
        variants.with_variant(
            ENDPOINT, [variant("AllTraffic", "m1")], variant_spec("new_one")
        )


def test_removing_unknown_or_every_production_variant_is_refused():
    current = [variant("AllTraffic", "m1"), variant("shadow", "m2", shadow=True)]
    with pytest.raises(BackendError) as caught:
        variants.without_variants(ENDPOINT, current, ["nope"])
    assert caught.value.message == (
        f"endpoint {ENDPOINT} has no variant nope; its variants: AllTraffic, "
        "shadow (shadow)"
    )
    with pytest.raises(BackendError, match="without a production variant"):
        variants.without_variants(ENDPOINT, current, ["AllTraffic"])
    with pytest.raises(BackendError, match="name the variants"):
        variants.without_variants(ENDPOINT, current, [])
    assert variants.without_variants(ENDPOINT, current, ["shadow"]) == current[:1]


# --- through moto ------------------------------------------------------------------
def endpoint_spec(model_name: str = "penguins-species-v1") -> EndpointSpec:
    return EndpointSpec(
        endpoint_name=ENDPOINT,
        model_name=model_name,
        model_artifact=ARTIFACT,
        image=IMAGE,
        capture=CaptureSpec(destination=CAPTURE),
    )


def moto_sagemaker(backend):
    """A client on moto's state that neither stubs nor the call log see."""
    return backend.clients.session.client(
        "sagemaker",
        region_name=helpers.REGION,
        endpoint_url=backend.settings.endpoint_url,
    )


def configs_and_models(backend) -> tuple[list[str], list[str]]:
    sagemaker = moto_sagemaker(backend)
    return (
        sorted(
            c["EndpointConfigName"]
            for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
        ),
        sorted(m["ModelName"] for m in sagemaker.list_models()["Models"]),
    )


def serving_config(backend) -> str:
    return moto_sagemaker(backend).describe_endpoint(EndpointName=ENDPOINT)[
        "EndpointConfigName"
    ]


def metrics_stub(backend) -> PartialStubber:
    """GetMetricData answered with no datapoints: moto cannot serialise the
    percentile statistics (it answers 500)."""
    stub = PartialStubber(backend.clients.cloudwatch, {"GetMetricData"})
    for _ in range(10):
        stub.add_response("get_metric_data", {"MetricDataResults": []})
    return stub


def assert_allowed(log: CallLog, step: str, *operations: str) -> None:
    made = log.operations(step)
    assert set(operations) <= set(made), f"{step} made {made}"
    assert iam_policies.audit(log.requests) == []


def test_a_second_production_variant_weights_and_removal_on_moto(backend):
    backend.create_endpoint(endpoint_spec())
    first_config = serving_config(backend)
    log = CallLog(step="deploy")
    log.attach(backend.clients)
    update = PartialStubber(backend.clients.sagemaker, {"UpdateEndpoint"})
    apply_updates_to_moto(backend)
    for _ in range(2):
        update.add_response(
            "update_endpoint", {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"}
        )
    with update, metrics_stub(backend):
        deployed = backend.deploy_variant(ENDPOINT, variant_spec(weight=1.0))
        assert [(v.variant_name, v.model_name, v.weight) for v in deployed] == [
            ("AllTraffic", "penguins-species-v1", 1.0),
            ("challenger", "penguins-species-challenger-v2", 1.0),
        ]
        second_config = serving_config(backend)
        # The old config served nothing more; both models still serve.
        assert configs_and_models(backend) == (
            [second_config],
            ["penguins-species-challenger-v2", "penguins-species-v1"],
        )
        (config_request,) = log.params["CreateEndpointConfig"]
        assert config_request["DataCaptureConfig"]["DestinationS3Uri"] == CAPTURE
        (update_request,) = log.params["UpdateEndpoint"]
        assert update_request["EndpointConfigName"] == second_config
        assert "DeploymentConfig" not in update_request  # a new variant name
        assert_allowed(log, "deploy", "CreateModel", "UpdateEndpoint", "GetMetricData")

        log.step = "promote"
        promoted = backend.set_variant_weights(
            ENDPOINT, {"AllTraffic": 0.0, "challenger": 1.0}
        )
        assert [(v.variant_name, v.weight) for v in promoted] == [
            ("AllTraffic", 0.0),
            ("challenger", 1.0),
        ]
        (weights,) = log.params["UpdateEndpointWeightsAndCapacities"]
        assert weights["DesiredWeightsAndCapacities"] == [
            {"VariantName": "AllTraffic", "DesiredWeight": 0.0},
            {"VariantName": "challenger", "DesiredWeight": 1.0},
        ]

        left = backend.remove_variants(ENDPOINT, ["AllTraffic"])
        assert [(v.variant_name, v.model_name) for v in left] == [
            ("challenger", "penguins-species-challenger-v2")
        ]
        # The new config carried the weight set by the promotion.
        removal_config = log.params["CreateEndpointConfig"][-1]
        assert [
            (v["VariantName"], v["InitialVariantWeight"])
            for v in removal_config["ProductionVariants"]
        ] == [("challenger", 1.0)]
        assert configs_and_models(backend) == (
            [serving_config(backend)],
            ["penguins-species-challenger-v2"],
        )
    update.assert_no_pending_responses()
    assert first_config != second_config != serving_config(backend)
    assert_allowed(
        log,
        "promote",
        "UpdateEndpointWeightsAndCapacities",
        "UpdateEndpoint",
        "DeleteEndpointConfig",
        "DeleteModel",
    )


def test_an_unknown_variant_for_weights_is_refused_before_any_change(backend):
    backend.create_endpoint(endpoint_spec())
    log = CallLog(step="promote")
    log.attach(backend.clients)
    with pytest.raises(BackendError) as caught:
        backend.set_variant_weights(ENDPOINT, {"challenger": 1.0})
    assert caught.value.message == (
        f"endpoint {ENDPOINT} has no variant challenger; its variants: AllTraffic"
    )
    assert log.operations() == ["DescribeEndpoint", "DescribeEndpointConfig"]


def test_removing_the_last_production_variant_is_refused_on_moto(backend):
    backend.create_endpoint(endpoint_spec())
    before = configs_and_models(backend)
    with pytest.raises(BackendError, match="without a production variant"):
        backend.remove_variants(ENDPOINT, ["AllTraffic"])
    with pytest.raises(BackendError, match="has no variant ghost"):
        backend.remove_variants(ENDPOINT, ["ghost"])
    assert configs_and_models(backend) == before


def test_a_throttled_describe_is_retried_and_a_persistent_throttle_says_so(
    backend,
    no_backoff,  # noqa: F811 - the fixture imported above
):
    backend.create_endpoint(endpoint_spec())
    attempts = throttle(backend.clients.sagemaker, "DescribeEndpointConfig", times=2)
    with metrics_stub(backend):
        infos = backend.describe_variants(ENDPOINT)
    assert [i.variant_name for i in infos] == ["AllTraffic"]
    assert len(attempts) == 3
    attempts = throttle(
        backend.clients.sagemaker, "UpdateEndpointWeightsAndCapacities", times=None
    )
    with pytest.raises(AwsCallFailed) as caught:
        backend.set_variant_weights(ENDPOINT, {"AllTraffic": 2.0})
    assert len(attempts) == 6
    assert caught.value.error_code == "ThrottlingException"
    assert caught.value.message.startswith(
        f"setting the variant weights of endpoint {ENDPOINT} failed: "
        "ThrottlingException: Rate exceeded (UpdateEndpointWeightsAndCapacities "
        "tried 6 times"
    )


def test_invoke_with_a_target_variant_sends_target_variant(backend):
    with Stubber(backend.clients.runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {
                "Body": StreamingBody(_Raw(b"Adelie\n"), 7),
                "InvokedProductionVariant": "challenger",
            },
            {
                "EndpointName": ENDPOINT,
                "Body": b"39.1,18.7,Torgersen",
                "ContentType": "text/csv",
                "Accept": "text/csv",
                "TargetVariant": "challenger",
            },
        )
        answer = backend.invoke_endpoint(
            ENDPOINT,
            b"39.1,18.7,Torgersen",
            "text/csv",
            "text/csv",
            target_variant="challenger",
        )
        stub.assert_no_pending_responses()
    assert answer == b"Adelie\n"


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def read(self, *args) -> bytes:
        data, self._data = self._data, b""
        return data


# --- faults: a small SageMaker hosting ---------------------------------------------
class FakeHosting:
    """Models, endpoint configs and one endpoint, as the SageMaker API reference
    describes them, answering the backend's SageMaker calls (`before-call`).

    `next_update` says how the next UpdateEndpoint ends: "ok" (InService on
    the new config), "rolled_back" (InService on the old one, with a
    FailureReason: a fleet that did not come up, or a rollback alarm),
    "failed" (Failed on the old config), "rollback_failed"
    (UpdateRollbackFailed) or a ClientError code to refuse it with.
    """

    def __init__(self, client: Any):
        self.models: dict[str, dict] = {}
        self.configs: dict[str, dict] = {}
        self.endpoint: dict[str, Any] | None = None
        self.next_update = "ok"
        self.calls: list[str] = []
        self._pending: list[dict] = []
        events = client.meta.events
        events.register("before-parameter-build.sagemaker", self._keep)
        events.register("before-call.sagemaker", self._answer)

    def _keep(self, params, context, **kwargs):
        # The API parameters, as the caller gave them (before-call sees the
        # serialised request).
        context["fake_hosting_params"] = copy.deepcopy(params)

    def _answer(self, model, context, **kwargs):
        self.calls.append(model.name)
        handler = getattr(self, "_" + botocore.xform_name(model.name), None)
        if handler is None:
            raise AssertionError(f"FakeHosting does not answer {model.name}")
        try:
            parsed = handler(context["fake_hosting_params"])
        except _Refused as refused:
            return AWSResponse(None, 400, {}, None), {
                "Error": {"Code": refused.code, "Message": refused.message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
        return AWSResponse(None, 200, {}, None), parsed

    # SageMaker's calls, as this backend makes them ----------------------------------
    def _create_model(self, p):
        self.models[p["ModelName"]] = p
        return {"ModelArn": f"{ARN_PREFIX}:model/{p['ModelName']}"}

    def _delete_model(self, p):
        if self.models.pop(p["ModelName"], None) is None:
            raise _Refused("ValidationException", "Could not find model")
        return {}

    def _create_endpoint_config(self, p):
        self.configs[p["EndpointConfigName"]] = p
        return {"EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/x"}

    def _describe_endpoint_config(self, p):
        config = self.configs.get(p["EndpointConfigName"])
        if config is None:
            raise _Refused("ValidationException", "Could not find endpoint config")
        return {
            **{k: v for k, v in config.items() if k != "Tags"},
            "EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/x",
            "CreationTime": NOW,
        }

    def _delete_endpoint_config(self, p):
        if self.configs.pop(p["EndpointConfigName"], None) is None:
            raise _Refused("ValidationException", "Could not find endpoint config")
        return {}

    def _create_endpoint(self, p):
        self.endpoint = {"config": p["EndpointConfigName"], "status": "InService"}
        return {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"}

    def _summaries(self, config: dict, key: str) -> list[dict]:
        return [
            {
                "VariantName": v["VariantName"],
                "CurrentWeight": v["InitialVariantWeight"],
                "DesiredWeight": v["InitialVariantWeight"],
                "CurrentInstanceCount": v["InitialInstanceCount"],
                "DesiredInstanceCount": v["InitialInstanceCount"],
            }
            for v in config.get(key, [])
        ]

    def _describe_endpoint(self, p):
        if self._pending:
            self.endpoint = self._pending.pop(0)
        endpoint = self.endpoint
        config = self.configs[endpoint["config"]]
        description = {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}",
            "EndpointConfigName": endpoint["config"],
            "EndpointStatus": endpoint["status"],
            "CreationTime": NOW,
            "LastModifiedTime": NOW,
            "ProductionVariants": endpoint.get("weights")
            or self._summaries(config, "ProductionVariants"),
        }
        shadows = self._summaries(config, "ShadowProductionVariants")
        if shadows:
            description["ShadowProductionVariants"] = shadows
        if endpoint.get("reason"):
            description["FailureReason"] = endpoint["reason"]
        return description

    def _update_endpoint(self, p):
        outcome = self.next_update
        if outcome not in ("ok", "rolled_back", "failed", "rollback_failed"):
            raise _Refused(outcome, "Cannot update in-progress endpoint")
        old, new = self.endpoint["config"], p["EndpointConfigName"]
        assert new in self.configs, "UpdateEndpoint to a config that does not exist"
        self.endpoint = {"config": old, "status": "Updating"}
        final = {
            "ok": {"config": new, "status": "InService"},
            "rolled_back": {
                "config": old,
                "status": "InService",
                "reason": PING_FAILED,
            },
            "failed": {"config": old, "status": "Failed", "reason": PING_FAILED},
            "rollback_failed": {
                "config": old,
                "status": "UpdateRollbackFailed",
                "reason": "rollback failed",
            },
        }[outcome]
        self._pending = [{"config": old, "status": "Updating"}, final]
        return {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"}

    def _update_endpoint_weights_and_capacities(self, p):
        current = self._describe_endpoint({})["ProductionVariants"]
        desired = {
            d["VariantName"]: d["DesiredWeight"]
            for d in p["DesiredWeightsAndCapacities"]
        }
        for v in current:
            if v["VariantName"] in desired:
                v["CurrentWeight"] = v["DesiredWeight"] = desired[v["VariantName"]]
        self.endpoint = {**self.endpoint, "weights": current}
        return {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"}


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@pytest.fixture
def fake(backend):
    """FakeHosting behind the backend's SageMaker client, with one endpoint
    serving AllTraffic; CloudWatch stays moto's, GetMetricData answered empty."""
    hosting_ = FakeHosting(backend.clients.sagemaker)
    backend.create_endpoint(endpoint_spec())
    with metrics_stub(backend):
        yield hosting_


def logged(backend, step: str = "deploy") -> CallLog:
    log = CallLog(step=step)
    log.attach(backend.clients)
    return log


def test_a_shadow_variant_is_deployed_and_described_as_a_shadow(backend, fake):
    log = logged(backend)
    infos = backend.deploy_variant(
        ENDPOINT, variant_spec("shadow", weight=0.5, shadow=True)
    )
    assert [(i.variant_name, i.weight, i.shadow) for i in infos] == [
        ("AllTraffic", 1.0, False),
        ("shadow", 0.5, True),
    ]
    config = log.params["CreateEndpointConfig"][0]
    assert [v["VariantName"] for v in config["ShadowProductionVariants"]] == ["shadow"]
    assert sorted(fake.models) == [
        "penguins-species-shadow-v2",
        "penguins-species-v1",
    ]
    assert list(fake.configs) == [fake.endpoint["config"]]
    assert_allowed(log, "deploy", "CreateEndpointConfig", "UpdateEndpoint")

    log.step = "promote"
    left = backend.remove_variants(ENDPOINT, ["shadow"])
    assert [(i.variant_name, i.shadow) for i in left] == [("AllTraffic", False)]
    assert sorted(fake.models) == ["penguins-species-v1"]
    assert_allowed(log, "promote", "DeleteModel")


def test_replacing_a_variant_uses_blue_green_with_the_quality_alarm(backend, fake):
    quality = alarms.quality_alarm_name_for(ENDPOINT)
    backend.clients.cloudwatch.put_metric_alarm(
        AlarmName=quality,
        Namespace=alarms.MODEL_METRICS_NAMESPACE,
        MetricName="accuracy",
        Statistic="Minimum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.9,
        ComparisonOperator="LessThanThreshold",
    )
    log = logged(backend)
    infos = backend.deploy_variant(
        ENDPOINT,
        variant_spec("AllTraffic", model_name="penguins-species-v2", weight=1.0),
    )
    assert [(i.variant_name, i.model_name) for i in infos] == [
        ("AllTraffic", "penguins-species-v2")
    ]
    (update,) = log.params["UpdateEndpoint"]
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": quality}]
    }
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    # The replaced variant's model went with the old config.
    assert sorted(fake.models) == ["penguins-species-v2"]
    assert_allowed(log, "deploy", "DescribeAlarms", "DeleteModel")


def test_no_alarm_no_auto_rollback(backend, fake):
    log = logged(backend)
    backend.deploy_variant(
        ENDPOINT, variant_spec("AllTraffic", model_name="penguins-species-v2")
    )
    (update,) = log.params["UpdateEndpoint"]
    assert "AutoRollbackConfiguration" not in update["DeploymentConfig"]
    assert log.params["DescribeAlarms"] == [
        {"AlarmNames": [alarms.quality_alarm_name_for(ENDPOINT)]}
    ]


def test_a_rolled_back_variant_leaves_the_endpoint_as_it_was(backend, fake):
    log = logged(backend)
    old_config = fake.endpoint["config"]
    fake.next_update = "rolled_back"
    with pytest.raises(UpdateRolledBack) as caught:
        backend.deploy_variant(ENDPOINT, variant_spec())
    assert caught.value.reason == PING_FAILED
    message = caught.value.message
    assert message.startswith(
        "deploying variant challenger (model penguins-species-challenger-v2) on "
        f"endpoint {ENDPOINT} failed and SageMaker rolled it back: it still "
        f"serves endpoint config {old_config} (variants AllTraffic)"
    )
    assert PING_FAILED in message
    assert "deleted the new endpoint config" in message
    assert list(fake.configs) == [old_config]
    assert list(fake.models) == ["penguins-species-v1"]
    assert_allowed(log, "deploy", "DeleteEndpointConfig", "DeleteModel")


def test_an_update_ending_failed_deletes_only_the_new_config_and_model(backend, fake):
    old_config = fake.endpoint["config"]
    fake.next_update = "failed"
    with pytest.raises(EndpointFailed, match="left it Failed") as caught:
        backend.deploy_variant(ENDPOINT, variant_spec())
    assert caught.value.reason == PING_FAILED
    assert "run `teardown`, then `deploy`" in caught.value.message
    # What the endpoint still holds stays, for teardown to delete.
    assert list(fake.configs) == [old_config]
    assert list(fake.models) == ["penguins-species-v1"]


def test_a_failed_rollback_keeps_both_configs_and_models(backend, fake):
    fake.next_update = "rollback_failed"
    with pytest.raises(EndpointFailed, match="so did SageMaker's rollback"):
        backend.deploy_variant(ENDPOINT, variant_spec())
    # The endpoint may serve a mix of both: nothing of either is deleted.
    assert len(fake.configs) == 2
    assert sorted(fake.models) == [
        "penguins-species-challenger-v2",
        "penguins-species-v1",
    ]


def test_a_rolled_back_removal_keeps_every_variant_and_model(backend, fake):
    backend.deploy_variant(ENDPOINT, variant_spec())
    config = fake.endpoint["config"]
    models = sorted(fake.models)
    fake.next_update = "rolled_back"
    with pytest.raises(UpdateRolledBack, match="removing variant AllTraffic"):
        backend.remove_variants(ENDPOINT, ["AllTraffic"])
    assert list(fake.configs) == [config]
    assert sorted(fake.models) == models


def test_a_refused_update_deletes_the_new_config_and_model(backend, fake):
    log = logged(backend)
    old_config = fake.endpoint["config"]
    fake.next_update = "ValidationException"
    with pytest.raises(AwsCallFailed, match="Cannot update in-progress endpoint"):
        backend.deploy_variant(ENDPOINT, variant_spec())
    assert list(fake.configs) == [old_config]
    assert list(fake.models) == ["penguins-species-v1"]
    assert_allowed(log, "deploy", "DeleteEndpointConfig", "DeleteModel")


def test_an_endpoint_that_is_not_in_service_is_left_alone(backend, fake):
    fake.endpoint["status"] = "Updating"
    with pytest.raises(BackendError, match="is Updating"):
        backend.deploy_variant(ENDPOINT, variant_spec())
    fake.endpoint["status"] = "Failed"
    with pytest.raises(EndpointFailed, match="accepts only DeleteEndpoint"):
        backend.set_variant_weights(ENDPOINT, {"AllTraffic": 1.0})
    assert "CreateModel" not in fake.calls[-4:]
    assert list(fake.models) == ["penguins-species-v1"]


def test_weights_move_in_place_and_are_described(backend, fake):
    backend.deploy_variant(ENDPOINT, variant_spec(weight=1.0))
    configs = list(fake.configs)
    infos = backend.set_variant_weights(ENDPOINT, {"challenger": 9.0})
    assert [(i.variant_name, i.weight) for i in infos] == [
        ("AllTraffic", 1.0),
        ("challenger", 9.0),
    ]
    assert list(fake.configs) == configs  # no new config for weights


def test_traffic_comes_from_cloudwatch_per_variant(backend):
    backend.create_endpoint(endpoint_spec())
    stub = PartialStubber(backend.clients.cloudwatch, {"GetMetricData"})
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "v0_requests", "Values": [10.0], "StatusCode": "Complete"},
                {"Id": "v0_errors_5xx", "Values": [1.0], "StatusCode": "Complete"},
                {"Id": "v0_latency_p99", "Values": [4000.0], "StatusCode": "Complete"},
            ]
        },
    )
    with stub:
        (info,) = backend.describe_variants(ENDPOINT)
    assert info.model_name == "penguins-species-v1"
    assert info.traffic["requests"] == 10
    assert info.traffic["error_rate"] == 0.1
    assert info.traffic["latency_p99_ms"] == 4.0


def test_refused_metrics_show_in_place_of_the_traffic(backend):
    backend.create_endpoint(endpoint_spec())
    stub = PartialStubber(backend.clients.cloudwatch, {"GetMetricData"})
    stub.add_client_error(
        "get_metric_data",
        service_error_code="AccessDenied",
        service_message="not authorized to perform: cloudwatch:GetMetricData",
        http_status_code=403,
    )
    with stub:
        (info,) = backend.describe_variants(ENDPOINT)
    assert info.variant_name == "AllTraffic"
    assert "AccessDenied" in info.traffic["error"]
