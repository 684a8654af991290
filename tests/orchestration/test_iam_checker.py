"""The IAM checker of tests/iam_policies.py refuses what IAM would refuse."""

from __future__ import annotations

import pytest

from tests import iam_policies as iam

V = iam.TEST_VALUES
BUCKET, PREFIX = V["BUCKET"], V["PREFIX"]
ROLE = f"arn:aws:iam::{V['ACCOUNT_ID']}:role/{iam.ROLE_NAME}"
TAGS = [{"Key": "project", "Value": "sklearn-byoc"}]
JOBS = f"arn:aws:sagemaker:{V['REGION']}:{V['ACCOUNT_ID']}:training-job/*"


def document(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


PASS_ROLE = allow(
    "iam:PassRole",
    ROLE,
    {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
)
TRAINING = {"TrainingJobName": "penguins-train-1", "RoleArn": ROLE, "Tags": TAGS}


def test_an_allowed_call_passes():
    calls = [
        ("predict", "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ep"}),
        (
            "prepare",
            "s3",
            "PutObject",
            {"Bucket": BUCKET, "Key": f"{PREFIX}/data/processed/train/train.csv"},
        ),
        ("train", "sagemaker", "CreateTrainingJob", TRAINING),
    ]
    assert iam.violations(calls) == []
    assert iam.unchecked(calls) == []


def test_a_call_missing_from_the_policy_fails():
    (problem,) = iam.violations(
        [("predict", "sagemaker", "CreateEndpoint", {"EndpointName": "ep"})]
    )
    assert problem.startswith("predict: sagemaker CreateEndpoint needs ")
    assert "sagemaker:CreateEndpoint on arn:aws:sagemaker:us-east-1:" in problem
    assert "predict.json" in problem


@pytest.mark.parametrize(
    "key",
    [
        "elsewhere/data/processed/train.csv",  # outside the prefix
        f"{PREFIX}/models/model.tar.gz",  # inside, but not where prepare writes
        f"{PREFIX}-other/data/processed/train.csv",  # a sibling prefix
    ],
)
def test_an_object_outside_the_steps_prefix_fails(key):
    (problem,) = iam.violations(
        [("prepare", "s3", "PutObject", {"Bucket": BUCKET, "Key": key})]
    )
    assert f"s3:PutObject on arn:aws:s3:::{BUCKET}/{key}" in problem


def test_another_bucket_fails():
    key = f"{PREFIX}/data/processed/train.csv"
    assert iam.violations(
        [("prepare", "s3", "PutObject", {"Bucket": "someone-else", "Key": key})]
    )


def test_a_listing_is_checked_against_the_s3_prefix_condition():
    def listing(**params):
        return [("baseline", "s3", "ListObjectsV2", {"Bucket": BUCKET, **params})]

    assert iam.violations(listing(Prefix=f"{PREFIX}/baseline/job-1")) == []
    (problem,) = iam.violations(listing(Prefix=f"{PREFIX}/data"))
    assert f"s3:ListBucket on arn:aws:s3:::{BUCKET} with s3:prefix=" in problem
    assert iam.violations(listing())  # the whole bucket


def test_a_missing_pass_role_fails():
    without = document(
        allow("sagemaker:CreateTrainingJob", JOBS), allow("sagemaker:AddTags", JOBS)
    )
    (problem,) = iam.violations(
        [("train", "sagemaker", "CreateTrainingJob", TRAINING)],
        policies={"train": [without]},
    )
    assert f"iam:PassRole on {ROLE}" in problem
    assert "iam:PassedToService=sagemaker.amazonaws.com" in problem
    assert (
        iam.violations(
            [("train", "sagemaker", "CreateTrainingJob", TRAINING)],
            policies={"train": [document(*without["Statement"], PASS_ROLE)]},
        )
        == []
    )


def test_pass_role_is_refused_for_another_role_or_another_service():
    other_role = {**TRAINING, "RoleArn": f"arn:aws:iam::{V['ACCOUNT_ID']}:role/admin"}
    (problem,) = iam.violations(
        [("train", "sagemaker", "CreateTrainingJob", other_role)]
    )
    assert "iam:PassRole on arn:aws:iam::123456789012:role/admin" in problem
    to_ec2 = allow(
        "iam:PassRole",
        ROLE,
        {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    )
    policy = document(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:AddTags"], JOBS), to_ec2
    )
    assert iam.violations(
        [("train", "sagemaker", "CreateTrainingJob", TRAINING)],
        policies={"train": [policy]},
    )


def test_a_role_nested_in_the_request_is_found():
    request = {
        "MonitoringScheduleName": "ep-monitoring",
        "MonitoringScheduleConfig": {"MonitoringJobDefinition": {"RoleArn": ROLE}},
    }
    actions = {
        r.action
        for r in iam.iam_requests("sagemaker", "CreateMonitoringSchedule", request)
    }
    assert actions == {"sagemaker:CreateMonitoringSchedule", "iam:PassRole"}


def test_tags_on_create_need_the_tagging_action():
    policy = document(allow("sagemaker:CreateTrainingJob", JOBS), PASS_ROLE)
    (problem,) = iam.violations(
        [("train", "sagemaker", "CreateTrainingJob", TRAINING)],
        policies={"train": [policy]},
    )
    assert (
        "sagemaker:AddTags on arn:aws:sagemaker:us-east-1:123456789012:"
        "training-job/penguins-train-1" in problem
    )
    untagged = {k: v for k, v in TRAINING.items() if k != "Tags"}
    assert (
        iam.violations(
            [("train", "sagemaker", "CreateTrainingJob", untagged)],
            policies={"train": [policy]},
        )
        == []
    )


@pytest.mark.parametrize(
    ("service", "operation", "params", "action"),
    [
        (
            "ecr",
            "CreateRepository",
            {"repositoryName": "r", "tags": TAGS},
            "ecr:TagResource",
        ),
        ("sns", "CreateTopic", {"Name": "t", "Tags": TAGS}, "sns:TagResource"),
        (
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": "ep", "EndpointConfigName": "c", "Tags": TAGS},
            "sagemaker:AddTags",
        ),
    ],
)
def test_each_service_tags_with_its_own_action(service, operation, params, action):
    requests = iam.iam_requests(service, operation, params)
    (tagging,) = [r for r in requests if r.action == action]
    assert tagging.resource.endswith(("repository/r", ":t", "endpoint/ep"))


def test_create_endpoint_needs_the_endpoint_and_its_config():
    requests = iam.iam_requests(
        "sagemaker", "CreateEndpoint", {"EndpointName": "Ep", "EndpointConfigName": "c"}
    )
    assert sorted(r.resource.split(":")[-1] for r in requests) == [
        "endpoint-config/c",
        "endpoint/ep",  # SageMaker lower-cases names in ARNs
    ]


def test_operations_map_to_their_iam_actions():
    assert iam.iam_action("s3", "ListObjectsV2") == "s3:ListBucket"
    assert iam.iam_action("s3", "HeadObject") == "s3:GetObject"
    for part in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        assert iam.iam_action("s3", part) == "s3:PutObject"
    assert iam.iam_action("sagemaker-runtime", "InvokeEndpoint") == (
        "sagemaker:InvokeEndpoint"
    )
    assert iam.iam_action("cloudwatch", "PutMetricAlarm") == "cloudwatch:PutMetricAlarm"
    assert iam.iam_requests("sts", "GetCallerIdentity", {}) == []


def test_list_actions_need_a_star_resource():
    scoped = document(allow("sagemaker:ListModelPackages", JOBS))
    call = ("status", "sagemaker", "ListModelPackages", {"ModelPackageGroupName": "g"})
    assert iam.violations([call], policies={"status": [scoped]})
    star = document(allow("sagemaker:ListModelPackages", "*"))
    assert iam.violations([call], policies={"status": [star]}) == []


def test_iam_wildcards():
    assert iam.wildcard_match("arn:aws:s3:::b/p/*", "arn:aws:s3:::b/p/a/b/c")
    assert not iam.wildcard_match("arn:aws:s3:::b/p/*", "arn:aws:s3:::b/p")
    assert iam.wildcard_match("a?c", "abc") and not iam.wildcard_match("a?c", "abbc")
    assert iam.wildcard_match("a.c", "a.c") and not iam.wildcard_match("a.c", "abc")
    assert not iam.wildcard_match("arn:aws:s3:::B/*", "arn:aws:s3:::b/x")
    assert iam.wildcard_match("s3:getobject", "s3:GetObject", ignore_case=True)


def test_an_explicit_deny_wins():
    policy = document(
        allow("sagemaker:InvokeEndpoint", "*"),
        {"Effect": "Deny", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"},
    )
    call = ("predict", "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ep"})
    assert iam.violations([call], policies={"predict": [policy]})


def test_set_up_calls_are_skipped_and_unknown_steps_reported():
    put = ("s3", "PutObject", {"Bucket": "x", "Key": "y"})
    assert iam.violations([("", *put), (None, *put)]) == []
    assert iam.violations([("deploy-everything", *put)]) == [
        "deploy-everything: no policy is mapped to this step in steps.json"
    ]


def test_calls_without_a_known_resource_are_reported_as_unchecked():
    call = ("status", "sagemaker", "DescribeSomethingNew", {})
    assert iam.unchecked([call]) == ["status: sagemaker DescribeSomethingNew"]
    # and their action is still checked, on any resource
    assert iam.violations([call]) != []


def test_conditions_it_cannot_evaluate_raise():
    policy = document(
        allow("s3:ListBucket", "*", {"NumericLessThan": {"s3:max-keys": "10"}})
    )
    with pytest.raises(ValueError, match="NumericLessThan"):
        iam.violations(
            [("baseline", "s3", "ListObjectsV2", {"Bucket": BUCKET})],
            policies={"baseline": [policy]},
        )


def test_placeholders_are_filled_in_everywhere():
    filled = iam.substitute(
        {
            "Resource": [
                "arn:aws:s3:::BUCKET/PREFIX/*",
                "arn:aws:sns:REGION:ACCOUNT_ID:t",
            ],
            "Condition": {"StringLike": {"s3:prefix": "PREFIX/x"}},
        },
        V,
    )
    assert filled == {
        "Resource": [
            f"arn:aws:s3:::{BUCKET}/{PREFIX}/*",
            "arn:aws:sns:us-east-1:123456789012:t",
        ],
        "Condition": {"StringLike": {"s3:prefix": f"{PREFIX}/x"}},
    }


def test_audit_reports_refused_unchecked_and_unlisted_calls():
    listed = ("predict", "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ep"})
    assert iam.audit([listed]) == []
    # Allowed (status may list endpoints) but not a call of `predict`'s code.
    unlisted = ("predict", "sagemaker", "ListEndpoints", {})
    (refused, not_listed) = iam.audit([unlisted])
    assert refused.startswith("predict: sagemaker ListEndpoints needs ")
    assert not_listed == (
        "predict: sagemaker ListEndpoints is not in STEP_CALLS['predict']"
    )
    assert iam.audit([("status", "sagemaker", "ListEndpoints", {})]) == []
    unknown = ("status", "sagemaker", "DescribeSomethingNew", {})
    assert "status: sagemaker DescribeSomethingNew: resource not computed" in (
        iam.audit([unknown])
    )
