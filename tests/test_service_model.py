"""The service-model check refuses what AWS refuses and botocore lets through."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests import service_model


def sagemaker_client():
    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).client("sagemaker")


def create_package(client, metadata: dict[str, str]) -> None:
    client.create_model_package(
        ModelPackageGroupName="penguins-species",
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=metadata,
    )


def test_json_in_customer_metadata_is_refused_as_aws_refuses_it(
    service_model_violations,
):
    client = sagemaker_client()
    with Stubber(client) as stub, pytest.raises(ClientError) as raised:
        # Stubber checks its queue first; the service-model check comes next.
        stub.add_response("create_model_package", {"ModelPackageArn": "arn:x"})
        create_package(client, {"lineage:data_hashes": '{"train": "ab"}'})
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "CustomerMetadataProperties.lineage:data_hashes" in error["Message"]
    assert [v.path for v in service_model_violations] == [
        "CustomerMetadataProperties.lineage:data_hashes"
    ]
    service_model_violations.clear()


def test_a_valid_request_reaches_the_stub():
    client = sagemaker_client()
    with Stubber(client) as stub:
        stub.add_response("create_model_package", {"ModelPackageArn": "arn:x"})
        create_package(client, {"lineage:train_sha256": "ab" * 32})
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("operation", "params", "path"),
    [
        (  # an enum
            "CreateEndpoint",
            {"EndpointName": "e", "EndpointConfigName": "c", "Tags": []},
            None,
        ),
        (
            "PutMetricAlarm",
            {
                "AlarmName": "a",
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
            None,
        ),
        (  # a name pattern: no underscores in SageMaker resource names
            "CreateEndpoint",
            {"EndpointName": "my_endpoint", "EndpointConfigName": "c"},
            "EndpointName",
        ),
        (  # a maximum length botocore does not check
            "CreateEndpoint",
            {"EndpointName": "e" * 64, "EndpointConfigName": "c"},
            "EndpointName",
        ),
    ],
)
def test_patterns_enums_and_maximums(operation, params, path):
    service = "cloudwatch" if operation == "PutMetricAlarm" else "sagemaker"
    model = boto3.Session(region_name="us-east-1").client(service).meta.service_model
    shape = model.operation_model(operation).input_shape
    found = service_model.violations_of(shape, params, "")
    assert {p for p, _ in found} == ({path} if path else set())


def test_an_enum_outside_its_values_is_named():
    model = boto3.Session(region_name="us-east-1").client("cloudwatch")
    shape = model.meta.service_model.operation_model("PutMetricAlarm").input_shape
    found = service_model.violations_of(
        shape,
        {
            "AlarmName": "a",
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThan",
        },
        "",
    )
    assert found and found[0][0] == "ComparisonOperator"
    assert "GreaterThanThreshold" in found[0][1]
