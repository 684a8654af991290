"""Check recorded AWS calls against the IAM policies in infrastructure/, by CLI step.

`infrastructure/steps.json` says which documents under `infrastructure/policies/`
are attached for each `python -m orchestration <step>`. This module evaluates
calls the way IAM would for an identity holding only those documents: the
action, the resource ARN computed from the request, the statement's
conditions, and the extra authorisations some requests need (iam:PassRole for
a role in the request, tagging on create).

Interface
---------
A call is a 4-tuple ``(cli_step, service, operation, params)``:

``cli_step``
    the CLI step that made the call: a key of `steps.json` (``"prepare"``,
    ``"train"``, ... ``"teardown"``, ``"run"``). ``""`` or ``None`` marks a
    call made by test set-up; it is skipped.
``service``
    the boto3 service name: ``"s3"``, ``"ecr"``, ``"sagemaker"``,
    ``"sagemaker-runtime"``, ``"cloudwatch"``, ``"sns"``, ``"sts"``
    (``model.service_model.service_name`` in a botocore event).
``operation``
    the API operation as botocore names it, e.g. ``"ListObjectsV2"``,
    ``"CreateTrainingJob"`` (``model.name``).
``params``
    the request parameters as the caller passed them: the ``params`` of a
    ``before-parameter-build.<service>.<operation>`` event handler. Managed
    transfers (``upload_file``, ``download_file``) show up as their
    PutObject / CreateMultipartUpload / HeadObject / GetObject calls.

`violations(calls, values=TEST_VALUES, policies=None) -> list[str]`
    One line per refused authorisation (duplicates dropped, order kept), e.g.
    ``"train: ecr CreateRepository needs ecr:TagResource on arn:aws:ecr:...
    (CreateRepository carries tags); not allowed by train.json"``. Empty means
    every call is allowed. ``values`` fills the placeholders of the documents
    (ACCOUNT_ID, REGION, BUCKET, PREFIX, ENDPOINT); `placeholder_values`
    builds them from the `AwsSettings` and endpoint name a test runs with.
    ``policies`` (step -> filled-in documents) replaces steps.json.
`unchecked(calls) -> list[str]`
    The calls whose resource this module cannot compute: for those only the
    action is checked (against statements of any resource). Assert it is
    empty to be sure every resource was checked.
`audit(calls, values=TEST_VALUES) -> list[str]`
    `violations`, `unchecked` and the calls STEP_CALLS does not list, in one
    list: what a test of a code path asserts empty.
`iam_requests(service, operation, params, values)`
    The `IamRequest`s (action, resource, condition context) one call needs.
`step_policies(step, values)` / `policy_documents(filenames, values)`
    The documents attached for a step, placeholders filled in.

`tests.orchestration.aws_conftest_helpers.CallLog` records calls in this
shape: attach it to an `AwsClients`, set ``log.step`` to the CLI step before
running it, and pass ``log.requests``. The same by hand, with botocore's
event hooks::

    calls = []
    def record(model, params, **_):
        calls.append((current_step, model.service_model.service_name,
                      model.name, params))
    client.meta.events.register_first("before-parameter-build.*.*", record)
    ...  # run lifecycle steps, setting current_step before each
    assert iam_policies.violations(calls, placeholder_values(settings, "ep")) == []

What it does not model: service control policies, permission boundaries,
resource policies (bucket, topic, repository), session policies; conditions
other than the String*/Arn* operators (a document using another operator
raises ValueError rather than passing silently); condition keys other than
s3:prefix and iam:PassedToService (a statement conditioned on any other key
does not match under a positive operator, as IAM treats a missing key).

`STEP_CALLS` is the hand-written table of what each step's code can call,
error paths included, each with a representative request (`expected_calls`
gives them as calls, `needed_actions` the IAM actions calls need); the tests
check that each step's documents grant exactly those actions. A recorded
(step, service, operation) missing from it means the table and the policy
need the new call.

Run ``python tests/iam_policies.py --write-run`` to regenerate
`policies/run.json` after changing a step's document.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = REPO_ROOT / "infrastructure"
POLICIES = INFRASTRUCTURE / "policies"
MAPPING_FILE = INFRASTRUCTURE / "steps.json"

PLACEHOLDERS = ("ACCOUNT_ID", "REGION", "BUCKET", "PREFIX", "ENDPOINT")
# The names the documents spell out rather than leave as placeholders: the
# defaults of AwsSettings / the config (ecr_repository, sns_topic_name) and the
# execution role of config/aws-example.yaml.
REPOSITORY = "sklearn-byoc"
TOPIC = "sklearn-byoc-alerts"
ROLE_NAME = "sklearn-byoc-sagemaker-execution"

# The values of tests/orchestration/aws_conftest_helpers (moto's account).
TEST_VALUES: dict[str, str] = {
    "ACCOUNT_ID": "123456789012",
    "REGION": "us-east-1",
    "BUCKET": "sklearn-byoc-test",
    "PREFIX": "penguins",
    "ENDPOINT": "penguins-species",
}

Call = tuple[str | None, str, str, Mapping[str, Any]]

# --- API operation -> IAM action --------------------------------------------------
# Operations authorised by an action of another name.
IAM_ACTION: dict[tuple[str, str], str] = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
}
# boto3 service name -> IAM service prefix, where they differ.
SERVICE_PREFIX = {"sagemaker-runtime": "sagemaker"}
# Calls IAM never refuses.
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}
# The service a passed role is handed to (iam:PassedToService).
PASSED_TO = {"sagemaker": "sagemaker.amazonaws.com"}
ROLE_KEYS = ("RoleArn", "ExecutionRoleArn")


def iam_action(service: str, operation: str) -> str:
    """The IAM action authorising `operation` of boto3 `service`."""
    return IAM_ACTION.get(
        (service, operation), f"{SERVICE_PREFIX.get(service, service)}:{operation}"
    )


# --- documents --------------------------------------------------------------------
@cache
def mapping() -> dict[str, Any]:
    """`infrastructure/steps.json`."""
    return json.loads(MAPPING_FILE.read_text())


def step_files(step: str) -> list[str]:
    """The documents attached for CLI `step` (KeyError for an unknown step)."""
    return list(mapping()["steps"][step])


def substitute(document: Any, values: Mapping[str, str]) -> Any:
    """`document` with every placeholder in its strings replaced by `values`."""
    if isinstance(document, str):
        for name in PLACEHOLDERS:
            if name in values:
                document = document.replace(name, values[name])
        return document
    if isinstance(document, list):
        return [substitute(item, values) for item in document]
    if isinstance(document, dict):
        return {key: substitute(item, values) for key, item in document.items()}
    return document


def load_document(filename: str) -> dict[str, Any]:
    return json.loads((POLICIES / filename).read_text())


def policy_documents(
    filenames: Iterable[str], values: Mapping[str, str] | None = TEST_VALUES
) -> list[dict[str, Any]]:
    """The documents, placeholders filled in (left as they are if `values` is None)."""
    documents = [load_document(name) for name in filenames]
    return documents if values is None else [substitute(d, values) for d in documents]


def step_policies(
    step: str, values: Mapping[str, str] | None = TEST_VALUES
) -> list[dict[str, Any]]:
    return policy_documents(step_files(step), values)


def placeholder_values(settings: Any, endpoint_name: str) -> dict[str, str]:
    """Placeholder values for an `orchestration.aws.settings.AwsSettings`.

    Raises ValueError when the settings name a repository, topic or role other
    than the ones the documents spell out, since every call would then be refused.
    """
    account = settings.role_arn.split(":")[4]
    role_name = settings.role_arn.split(":role/")[-1].rsplit("/", 1)[-1]
    for what, used, written in (
        ("aws.ecr_repository", settings.ecr_repository, REPOSITORY),
        ("aws.sns_topic_name", settings.alarm_topic, TOPIC),
        ("the execution role's name", role_name, ROLE_NAME),
    ):
        if used != written:
            raise ValueError(
                f"{what} is {used!r} but the policies name {written!r}: change "
                "the documents (see infrastructure/README.md) or the settings"
            )
    return {
        "ACCOUNT_ID": account,
        "REGION": settings.region,
        "BUCKET": settings.bucket,
        "PREFIX": settings.prefix.strip("/"),
        "ENDPOINT": endpoint_name,
    }


# --- IAM semantics ----------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's matching: `*` is any run of characters (`/` and `:` included), `?` one."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def _condition_holds(operator: str, expected: Any, actual: str | None) -> bool:
    base = operator.removesuffix("IfExists")
    if_exists = operator.endswith("IfExists")
    wanted = [str(v) for v in _as_list(expected)]
    if base in ("StringEquals", "ArnEquals"):
        match = actual is not None and actual in wanted
    elif base in ("StringEqualsIgnoreCase",):
        match = actual is not None and actual.lower() in [w.lower() for w in wanted]
    elif base in ("StringLike", "ArnLike"):
        match = actual is not None and any(wildcard_match(w, actual) for w in wanted)
    elif base in ("StringNotEquals", "ArnNotEquals"):
        return actual is None or actual not in wanted
    elif base in ("StringNotLike", "ArnNotLike"):
        return actual is None or not any(wildcard_match(w, actual) for w in wanted)
    else:
        raise ValueError(f"condition operator {operator} is not modelled here")
    return match or (if_exists and actual is None)


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        if ":" in operator:  # ForAnyValue:/ForAllValues: set operators
            raise ValueError(f"condition operator {operator} is not modelled here")
        for key, expected in keys.items():
            if not _condition_holds(operator, expected, context.get(key)):
                return False
    return True


def statement_matches(
    statement: Mapping[str, Any],
    action: str,
    resource: str | None,
    context: Mapping[str, str],
) -> bool:
    """Whether `statement` covers the request; `resource` None: any resource."""
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise ValueError(f"{unsupported} is not modelled here")
    if not any(
        wildcard_match(a, action, ignore_case=True)
        for a in _as_list(statement["Action"])
    ):
        return False
    if resource is not None and not any(
        wildcard_match(r, resource) for r in _as_list(statement["Resource"])
    ):
        return False
    return conditions_hold(statement.get("Condition", {}), context)


def is_allowed(
    documents: Sequence[Mapping[str, Any]],
    action: str,
    resource: str | None,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Allowed by some statement and denied by none (IAM's evaluation, one identity)."""
    context = context or {}
    statements = [s for d in documents for s in d["Statement"]]
    if any(
        s["Effect"] == "Deny" and statement_matches(s, action, resource, context)
        for s in statements
    ):
        return False
    return any(
        s["Effect"] == "Allow" and statement_matches(s, action, resource, context)
        for s in statements
    )


def granted_actions(documents: Iterable[Mapping[str, Any]]) -> set[str]:
    return {
        action
        for document in documents
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
    }


# --- the resources a request touches ----------------------------------------------
@dataclass(frozen=True)
class IamRequest:
    """One authorisation a call needs; `resource` None: not computed (action only)."""

    action: str
    resource: str | None
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""

    def describe(self) -> str:
        text = f"{self.action} on {self.resource or '(resource not computed)'}"
        if self.context:
            text += " with " + ", ".join(f"{k}={v}" for k, v in self.context)
        return text + (f" ({self.why})" if self.why else "")


# SageMaker request parameters naming a resource, and its ARN type.
SAGEMAKER_NAMES = {
    "TrainingJobName": "training-job",
    "ProcessingJobName": "processing-job",
    "ModelName": "model",
    "EndpointConfigName": "endpoint-config",
    "EndpointName": "endpoint",
    "MonitoringScheduleName": "monitoring-schedule",
    "ModelPackageGroupName": "model-package-group",
    "PipelineName": "pipeline",
}
# Job names that are the only resource of the calls naming them.
JOB_NAMES = {
    "TransformJobName": "transform-job",
    "HyperParameterTuningJobName": "hyper-parameter-tuning-job",
}
# Operations that need no resource ("*" is the only Resource that allows them).
NOT_RESOURCE_SCOPED = {
    ("ecr", "GetAuthorizationToken"),
    ("sns", "ListTopics"),
    ("sns", "ListSubscriptions"),
    ("cloudwatch", "PutMetricData"),
    ("cloudwatch", "ListMetrics"),
    ("cloudwatch", "GetMetricData"),
    ("cloudwatch", "DescribeAlarmsForMetric"),
}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _sagemaker_arn(values: Mapping[str, str], kind: str, name: str) -> str:
    # SageMaker lower-cases names in its ARNs.
    return (
        f"arn:aws:sagemaker:{values['REGION']}:{values['ACCOUNT_ID']}:"
        f"{kind}/{name.lower()}"
    )


def resources(
    service: str, operation: str, params: Mapping[str, Any], values: Mapping[str, str]
) -> list[str] | None:
    """The ARNs `operation` is authorised against ("*" for unscoped ones); None if
    this module does not know how to compute them."""
    region, account = values["REGION"], values["ACCOUNT_ID"]
    if (service, operation) in NOT_RESOURCE_SCOPED:
        return ["*"]
    if service == "s3":
        bucket = params.get("Bucket")
        if not bucket:
            return None
        if "Key" in params:
            return [f"arn:aws:s3:::{bucket}/{params['Key']}"]
        return [f"arn:aws:s3:::{bucket}"]
    if service == "ecr":
        repository = f"arn:aws:ecr:{region}:{account}:repository/"
        if operation == "DescribeRepositories":
            names = params.get("repositoryNames")
            return [repository + n for n in names] if names else ["*"]
        if "resourceArn" in params:
            return [params["resourceArn"]]
        if "repositoryName" in params:
            return [repository + params["repositoryName"]]
        return None
    if service == "sns":
        if operation == "CreateTopic":
            return [f"arn:aws:sns:{region}:{account}:{params['Name']}"]
        for key in ("TopicArn", "ResourceArn"):
            if key in params:
                return [params[key]]
        return None
    if service == "cloudwatch":
        alarm = f"arn:aws:cloudwatch:{region}:{account}:alarm:"
        if operation == "PutMetricAlarm":
            return [alarm + params["AlarmName"]]
        if "AlarmNames" in params:
            return [alarm + n for n in params["AlarmNames"]]
        if operation == "DescribeAlarms":
            prefix = params.get("AlarmNamePrefix")
            return [alarm + prefix + "*"] if prefix else ["*"]
        if "ResourceARN" in params:
            return [params["ResourceARN"]]
        return None
    if service in ("sagemaker", "sagemaker-runtime"):
        # A job's calls are authorised against the job alone, even those that
        # name another resource (CreateTransformJob's ModelName) or list
        # (ListTrainingJobsForHyperParameterTuningJob, scoped to the tuning job).
        for key, kind in JOB_NAMES.items():
            if isinstance(params.get(key), str):
                return [_sagemaker_arn(values, kind, params[key])]
        if isinstance(params.get("PipelineExecutionArn"), str):
            # .../pipeline/<name>/execution/<id>: executions are their own resource.
            return [params["PipelineExecutionArn"]]
        if operation.startswith("List") or operation == "Search":
            return ["*"]
        if operation == "CreateModelPackage":
            group = params.get("ModelPackageGroupName")
            if not group:
                return None
            # A new version's ARN is .../model-package/<group>/<version>.
            return [_sagemaker_arn(values, "model-package", group) + "/*"]
        if operation in ("DescribeModelPackage", "DeleteModelPackage"):
            name = params["ModelPackageName"]
            return [
                name
                if name.startswith("arn:")
                else _sagemaker_arn(values, "model-package", name)
            ]
        if operation == "UpdateModelPackage":
            return [params["ModelPackageArn"]]
        if operation.endswith("ModelQualityJobDefinition"):
            name = params.get("JobDefinitionName")
            if not name:
                return None
            return [_sagemaker_arn(values, "model-quality-job-definition", name)]
        if "ResourceArn" in params:
            return [params["ResourceArn"]]
        found = [
            _sagemaker_arn(values, kind, params[key])
            for key, kind in SAGEMAKER_NAMES.items()
            if isinstance(params.get(key), str)
        ]
        return found or None
    return None


def _context(service: str, operation: str, params: Mapping[str, Any]):
    if service == "s3" and iam_action(service, operation) == "s3:ListBucket":
        if "Prefix" in params:
            return (("s3:prefix", params["Prefix"]),)
    return ()


def _roles(params: Any) -> Iterator[str]:
    """Every role ARN anywhere in the request (nested definitions included)."""
    if isinstance(params, Mapping):
        for key, value in params.items():
            if key in ROLE_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _roles(value)
    elif isinstance(params, list | tuple):
        for item in params:
            yield from _roles(item)


def _created(service: str, operation: str, found: list[str]) -> str | None:
    """The resource a Create* call makes, among the ones it is authorised against."""
    if service != "sagemaker":
        return found[0] if found else None
    kind = _kebab(operation.removeprefix("Create"))
    for arn in found:
        if arn.split(":", 5)[-1].startswith(kind + "/"):
            return arn
    return found[0] if found else None


# Create calls whose tags need a tagging action too, and where the tags are.
TAGGING = {
    "sagemaker": ("Tags", "sagemaker:AddTags"),
    "ecr": ("tags", "ecr:TagResource"),
    "sns": ("Tags", "sns:TagResource"),
    "cloudwatch": ("Tags", "cloudwatch:TagResource"),
}


def iam_requests(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    values: Mapping[str, str] = TEST_VALUES,
) -> list[IamRequest]:
    """Every authorisation one call needs: its action on each resource, plus
    iam:PassRole for each role in the request and tagging for tags on create."""
    if (service, operation) in NO_PERMISSION_NEEDED:
        return []
    action = iam_action(service, operation)
    found = resources(service, operation, params, values)
    context = _context(service, operation, params)
    requests = [IamRequest(action, r, context) for r in (found or [None])]
    tag_key, tag_action = TAGGING.get(service, ("", ""))
    creates = operation.startswith("Create") or operation == "PutMetricAlarm"
    if tag_key and creates and params.get(tag_key):
        requests.append(
            IamRequest(
                tag_action,
                _created(service, operation, found or []),
                why=f"{operation} carries {tag_key}",
            )
        )
    passed_to = PASSED_TO.get(SERVICE_PREFIX.get(service, service))
    for role in dict.fromkeys(_roles(params)):
        requests.append(
            IamRequest(
                "iam:PassRole",
                role,
                (("iam:PassedToService", passed_to),) if passed_to else (),
                why=f"{operation} hands over a role",
            )
        )
    return requests


# --- the check --------------------------------------------------------------------
def violations(
    calls: Iterable[Call],
    values: Mapping[str, str] = TEST_VALUES,
    policies: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[str]:
    """What the steps' documents would refuse; see the module docstring.

    `policies` (step -> documents, placeholders already filled in) replaces
    steps.json and the files, e.g. to test this checker on made-up documents.
    """
    found: dict[str, None] = {}
    documents: dict[str, Sequence[Mapping[str, Any]]] = dict(policies or {})
    for step, service, operation, params in calls:
        if not step:
            continue
        if step not in documents:
            if policies is not None or step not in mapping()["steps"]:
                found[f"{step}: no policy is mapped to this step in steps.json"] = None
                continue
            documents[step] = step_policies(step, values)
        for request in iam_requests(service, operation, params, values):
            if not is_allowed(
                documents[step], request.action, request.resource, dict(request.context)
            ):
                files = (
                    "the given documents"
                    if policies is not None
                    else ", ".join(step_files(step))
                )
                found[
                    f"{step}: {service} {operation} needs {request.describe()}; "
                    f"not allowed by {files}"
                ] = None
    return list(found)


def unchecked(
    calls: Iterable[Call], values: Mapping[str, str] = TEST_VALUES
) -> list[str]:
    """The calls whose resource could not be computed (only their action is checked)."""
    return list(
        dict.fromkeys(
            f"{step}: {service} {operation}"
            for step, service, operation, params in calls
            if step
            and (service, operation) not in NO_PERMISSION_NEEDED
            and resources(service, operation, params, values) is None
        )
    )


# --- what each step's code can call -----------------------------------------------
@dataclass(frozen=True)
class Expected:
    """An AWS call a step's code can make, with a representative request.

    `pending`: granted ahead of the change that adds the call to orchestration/
    (drop the flag once the call is there; the tests look for it in the code).
    """

    service: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    pending: bool = False


_V = TEST_VALUES
_B, _P, _E = _V["BUCKET"], _V["PREFIX"], _V["ENDPOINT"]
_ROLE = f"arn:aws:iam::{_V['ACCOUNT_ID']}:role/{ROLE_NAME}"
_TAGS = [{"Key": "project", "Value": "sklearn-byoc"}]
_GROUP = "penguins-species"
_PACKAGE = (
    f"arn:aws:sagemaker:{_V['REGION']}:{_V['ACCOUNT_ID']}:model-package/{_GROUP}/1"
)
_TRAIN_JOB = "penguins-train-20250101-000000-000-0a1b2c3d"
# Where `train` leaves the model: the lifecycle's training location.
_MODEL_ARTIFACT = f"{_P}/training/{_TRAIN_JOB}/output/model.tar.gz"
_BASELINE_JOB = "penguins-baseline-20250101-000000-000-0a1b2c3d"
_QUALITY_JOB = "penguins-quality-baseline-20250101-000000-000-0a1b2c3d"
_MONITOR_JOB = "penguins-monitor-20250101-000000-000-0a1b2c3d"
_CONFIG = f"{_E}-20250101-000000-000"
_MODEL = f"{_GROUP}-v1-20250101-000000-000"
_SCHEDULE = f"{_E}-monitoring"
# alarms.alarm_names_for: the drift alarm, the silence alarm and the
# model-quality alarm.
_ALARMS = (f"{_E}-feature-drift", f"{_E}-missing-feature-drift")
_QUALITY_ALARM = f"{_E}-model-quality"
_QUALITY_SCHEDULE = f"{_E}-model-quality"
_QUALITY_DEFINITION = f"{_E}-mq-20250101-000000-000"
_TRANSFORM_JOB = "penguins-transform-20250101-000000-000-0a1b2c3d"
_TRANSFORM_MODEL = f"{_GROUP}-v1-transform-20250101-000000"
_TUNING_JOB = "penguins-tune-20250101-000000"  # at most 32 characters
_TRIAL = f"{_TUNING_JOB}-001-0a1b2c3d"
_PREPARE_JOB = "penguins-prepare-20250101-000000-000-0a1b2c3d"
_PIPELINE = "penguins-lifecycle"
_EXECUTION = (
    f"arn:aws:sagemaker:{_V['REGION']}:{_V['ACCOUNT_ID']}:"
    f"pipeline/{_PIPELINE}/execution/0a1b2c3d4e5f"
)
_RAW = f"{_P}/data/raw/0123456789abcdef"


def _upload(key: str, where: str) -> list[Expected]:
    """What s3.upload_file can send for one file: one PutObject, or a multipart
    upload (aborted when a part fails)."""
    object_ = {"Bucket": _B, "Key": key}
    return [
        Expected("s3", "PutObject", object_, where),
        Expected("s3", "CreateMultipartUpload", object_, where + ", a large file"),
        Expected("s3", "UploadPart", {**object_, "PartNumber": 1, "UploadId": "u"}),
        Expected("s3", "CompleteMultipartUpload", {**object_, "UploadId": "u"}),
        Expected("s3", "AbortMultipartUpload", {**object_, "UploadId": "u"}),
    ]


def _fetch(prefix: str, where: str) -> list[Expected]:
    """What s3.download lists and reads (download_file: HeadObject, GetObject)."""
    key = f"{prefix}/statistics.json"
    return [
        Expected("s3", "ListObjectsV2", {"Bucket": _B, "Prefix": prefix}, where),
        Expected("s3", "HeadObject", {"Bucket": _B, "Key": key}, where),
        Expected("s3", "GetObject", {"Bucket": _B, "Key": key}, where),
    ]


def _training_outputs(job: str, where: str) -> list[Expected]:
    """What training_outputs.read fetches of a job for MLflow (`tracking:`):
    model.tar.gz's model.json and output.tar.gz's evaluation, through fetch."""
    found = []
    for name in ("model.tar.gz", "output.tar.gz"):
        key = f"{_P}/training/{job}/output/{name}"
        found += [
            Expected("s3", "ListObjectsV2", {"Bucket": _B, "Prefix": key}, where),
            Expected("s3", "HeadObject", {"Bucket": _B, "Key": key}, where),
            Expected("s3", "GetObject", {"Bucket": _B, "Key": key}, where),
        ]
    return found


ENSURE_IMAGE = [
    Expected(
        "ecr",
        "DescribeRepositories",
        {"repositoryNames": [REPOSITORY]},
        "AwsBackend.ensure_image -> ecr.ensure_repository",
    ),
    Expected(
        "ecr",
        "CreateRepository",
        {"repositoryName": REPOSITORY, "tags": _TAGS},
        "ecr.ensure_repository when the repository is missing (tagged)",
    ),
    Expected(
        "ecr",
        "DescribeImages",
        {"repositoryName": REPOSITORY, "imageIds": [{"imageTag": "latest"}]},
        "ecr.image_digest: is the tag pushed?",
    ),
]
LIST_VERSIONS = Expected(
    "sagemaker",
    "ListModelPackages",
    {"ModelPackageGroupName": _GROUP},
    "AwsModelRegistry._summaries (paginator)",
)
DESCRIBE_VERSION = Expected(
    "sagemaker",
    "DescribeModelPackage",
    {"ModelPackageName": _PACKAGE},
    "AwsModelRegistry._describe",
)
SET_APPROVAL = [
    LIST_VERSIONS,
    DESCRIBE_VERSION,
    Expected(
        "sagemaker",
        "UpdateModelPackage",
        {"ModelPackageArn": _PACKAGE, "ModelApprovalStatus": "Approved"},
        "AwsModelRegistry.set_approval",
    ),
]


def _processing(job: str, folder: str, where: str) -> list[Expected]:
    return [
        *ENSURE_IMAGE,
        *_upload(
            f"{_P}/jobs/{job}/input/file.csv",
            "run_processing_job -> _as_s3: an input given as a local folder",
        ),
        Expected(
            "sagemaker",
            "CreateProcessingJob",
            {"ProcessingJobName": job, "RoleArn": _ROLE, "Tags": _TAGS},
            where,
        ),
        Expected(
            "sagemaker",
            "DescribeProcessingJob",
            {"ProcessingJobName": job},
            "run_processing_job: wait",
        ),
        *_fetch(f"{_P}/{folder}/{job}", "AwsBackend.fetch of the job's output"),
    ]


VARIANT_TRAFFIC = Expected(
    "cloudwatch",
    "GetMetricData",
    {},
    "describe_variants -> _variant_traffic: the last hour's AWS/SageMaker "
    "metrics per variant",
)


STEP_CALLS: dict[str, list[Expected]] = {
    "prepare": _upload(
        f"{_P}/data/processed/train/train.csv",
        "lifecycle.prepare -> upload_data of each split",
    ),
    # prepare --job: ingest first, then the image's prepare job.
    "prepare --job": [
        *_upload(f"{_RAW}/raw/penguins-raw.csv", "prepare --job -> ingest.ingest"),
        *ENSURE_IMAGE,
        Expected(
            "sagemaker",
            "CreateProcessingJob",
            {"ProcessingJobName": _PREPARE_JOB, "RoleArn": _ROLE, "Tags": _TAGS},
            "prepare --job -> run_processing_job (command prepare)",
        ),
        Expected(
            "sagemaker",
            "DescribeProcessingJob",
            {"ProcessingJobName": _PREPARE_JOB},
            "run_processing_job: wait",
        ),
        *_fetch(
            f"{_P}/prepare/{_PREPARE_JOB}", "AwsBackend.fetch of the prepared splits"
        ),
    ],
    "train": [
        *ENSURE_IMAGE,
        *_upload(
            f"{_P}/jobs/{_TRAIN_JOB}/input/train/train.csv",
            "run_training_job -> _as_s3: a channel given as a local folder",
        ),
        Expected(
            "sagemaker",
            "CreateTrainingJob",
            {"TrainingJobName": _TRAIN_JOB, "RoleArn": _ROLE, "Tags": _TAGS},
            "AwsBackend.run_training_job",
        ),
        Expected(
            "sagemaker",
            "DescribeTrainingJob",
            {"TrainingJobName": _TRAIN_JOB},
            "run_training_job: wait",
        ),
        Expected(
            "sagemaker",
            "StopTrainingJob",
            {"TrainingJobName": _TRAIN_JOB},
            "run_training_job: Ctrl-C during the wait",
        ),
        # lifecycle.train records AwsBackend.image_digest: DescribeImages again.
        *_training_outputs(
            _TRAIN_JOB, "mlflow_runs.log_training_run -> training_outputs.read"
        ),
    ],
    "register": [
        Expected(
            "sagemaker",
            "DescribeModelPackageGroup",
            {"ModelPackageGroupName": _GROUP},
            "AwsModelRegistry.ensure_group",
        ),
        Expected(
            "sagemaker",
            "CreateModelPackageGroup",
            {"ModelPackageGroupName": _GROUP},
            "ensure_group when the group is missing",
        ),
        *(
            Expected(
                "s3",
                "PutObject",
                {"Bucket": _B, "Key": f"{_P}/registry/{_GROUP}/{_TRAIN_JOB}/{name}"},
                f"AwsModelRegistry.register -> s3.put_json of {name}",
            )
            for name in ("evaluation.json", "lineage.json")
        ),
        Expected(
            "sagemaker",
            "CreateModelPackage",
            {"ModelPackageGroupName": _GROUP},
            "AwsModelRegistry.register",
        ),
        # The auto-approval rule: registry.latest, then set_approval.
        *SET_APPROVAL,
    ],
    "approve": SET_APPROVAL,
    "deploy": [
        LIST_VERSIONS,  # registry.latest / get
        Expected(
            "cloudwatch",
            "DescribeAlarms",
            {"AlarmNames": [_QUALITY_ALARM]},
            "deploy_variant -> _existing_alarms: the rollback alarm, if it exists, "
            "of a variant replaced blue/green",
        ),
        VARIANT_TRAFFIC,
        DESCRIBE_VERSION,
        *ENSURE_IMAGE,  # only when the version records no image
        Expected(
            "sagemaker",
            "CreateModel",
            {"ModelName": _MODEL, "ExecutionRoleArn": _ROLE, "Tags": _TAGS},
            "_create_model_and_config",
        ),
        Expected(
            "sagemaker",
            "CreateEndpointConfig",
            {"EndpointConfigName": _CONFIG, "Tags": _TAGS},
            "_create_model_and_config (with DataCaptureConfig)",
        ),
        Expected(
            "sagemaker",
            "CreateEndpoint",
            {"EndpointName": _E, "EndpointConfigName": _CONFIG, "Tags": _TAGS},
            "create_endpoint (first deploy)",
        ),
        Expected(
            "sagemaker",
            "DescribeEndpoint",
            {"EndpointName": _E},
            "_wait_for_endpoint; _describe_endpoint before an update; "
            "_failed_creation -> _wait_gone",
        ),
        Expected(
            "sagemaker",
            "DeleteEndpoint",
            {"EndpointName": _E},
            "_failed_creation: a first deploy whose endpoint ends Failed",
        ),
        Expected(
            "sagemaker",
            "DescribeEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "update_endpoint -> _models_of the old config (and of the one a "
            "rolled-back update serves)",
        ),
        Expected(
            "sagemaker",
            "UpdateEndpoint",
            {"EndpointName": _E, "EndpointConfigName": _CONFIG},
            "update_endpoint (a deploy over a running endpoint)",
        ),
        Expected(
            "sagemaker",
            "DeleteEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "update_endpoint: the old config once the new one serves, or the "
            "new one after a rollback or refusal; _failed_creation; _discard",
        ),
        Expected(
            "sagemaker",
            "DeleteModel",
            {"ModelName": _MODEL},
            "the models of those configs; _discard of a model whose config was refused",
        ),
    ],
    "predict": [
        Expected(
            "sagemaker-runtime",
            "InvokeEndpoint",
            {"EndpointName": _E, "Body": b"", "ContentType": "text/csv"},
            "AwsBackend.invoke_endpoint, one request per row (TargetVariant "
            "needs no other action)",
        )
    ],
    "promote": [
        *(
            Expected("sagemaker", operation, params, where)
            for operation, params, where in (
                ("DescribeEndpoint", {"EndpointName": _E}, "_serving; the waits"),
                (
                    "DescribeEndpointConfig",
                    {"EndpointConfigName": _CONFIG},
                    "_serving; describe_variants: the variants' models",
                ),
                (
                    "UpdateEndpointWeightsAndCapacities",
                    {"EndpointName": _E},
                    "set_variant_weights",
                ),
                (
                    "CreateEndpointConfig",
                    {"EndpointConfigName": _CONFIG, "Tags": _TAGS},
                    "remove_variants -> _switch_variants: the config without them",
                ),
                (
                    "UpdateEndpoint",
                    {"EndpointName": _E, "EndpointConfigName": _CONFIG},
                    "remove_variants -> _switch_variants",
                ),
                (
                    "DeleteEndpointConfig",
                    {"EndpointConfigName": _CONFIG},
                    "_switch_variants: the old config, or the new one after a "
                    "rollback or refusal",
                ),
                (
                    "DeleteModel",
                    {"ModelName": _MODEL},
                    "_switch_variants: the removed variants' models",
                ),
            )
        ),
        VARIANT_TRAFFIC,
    ],
    "ground-truth": _upload(
        f"{_P}/groundtruth/2025/01/01/00/labels-20250101-000000-0a1b.jsonl",
        "lifecycle.ground_truth -> upload_data of the hour's records",
    ),
    "baseline": [
        *_processing(
            _BASELINE_JOB, "baseline", "run_processing_job (command baseline)"
        ),
        # The model-quality baseline: the deployed version's model.tar.gz,
        # predicted here, its predictions and relaxed constraints uploaded.
        LIST_VERSIONS,
        DESCRIBE_VERSION,
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": _MODEL_ARTIFACT},
            "lifecycle._local_artifact -> AwsBackend.fetch of the model",
        ),
        *(
            Expected(
                "s3",
                operation,
                {"Bucket": _B, "Key": _MODEL_ARTIFACT},
                "fetch of the model (download_file)",
            )
            for operation in ("HeadObject", "GetObject")
        ),
        *_upload(
            f"{_P}/quality/{_QUALITY_JOB}/validation_predictions.csv",
            "lifecycle._quality_baseline -> upload_data of the predictions",
        ),
        *_upload(
            f"{_P}/quality/{_QUALITY_JOB}/constraints/constraints.json",
            "_quality_baseline -> upload_data of the relaxed constraints",
        ),
    ],
    "monitor": [
        *_processing(
            _MONITOR_JOB, "monitoring", "run_processing_job (command monitor)"
        ),
        Expected(
            "cloudwatch",
            "GetMetricData",
            {},
            "lifecycle._window_traffic -> endpoint_traffic: the window's real "
            "requests and errors, for the error_rate rule",
        ),
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": f"{_P}/capture/{_E}/AllTraffic/2025/01/01/00/"},
            "lifecycle._captured -> capture.wait_for_window: each hour folder "
            "of the window, before the job",
        ),
        # The model-quality part: is there ground truth for the window?
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": f"{_P}/groundtruth"},
            "lifecycle._ground_truth_since -> AwsBackend.fetch of the records",
        ),
        *(
            Expected(
                "s3",
                operation,
                {"Bucket": _B, "Key": f"{_P}/groundtruth/2025/01/01/00/labels.jsonl"},
                "the records, fetched to be counted by hour",
            )
            for operation in ("HeadObject", "GetObject")
        ),
        # The deployed version's model.tar.gz, whose bundle the model-quality
        # job estimates the window's accuracy with (uploaded as a local input).
        LIST_VERSIONS,
        DESCRIBE_VERSION,
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": _MODEL_ARTIFACT},
            "lifecycle._deployed_bundle -> AwsBackend.fetch of the model",
        ),
        *(
            Expected(
                "s3",
                operation,
                {"Bucket": _B, "Key": _MODEL_ARTIFACT},
                "fetch of the model (download_file)",
            )
            for operation in ("HeadObject", "GetObject")
        ),
    ],
    "schedule": [
        *ENSURE_IMAGE,
        Expected(
            "sagemaker",
            "CreateMonitoringSchedule",
            {
                "MonitoringScheduleName": _SCHEDULE,
                "MonitoringScheduleConfig": {
                    "MonitoringJobDefinition": {"RoleArn": _ROLE}
                },
                "Tags": _TAGS,
            },
            "monitoring.create_schedule",
        ),
        Expected(
            "sagemaker",
            "DescribeMonitoringSchedule",
            {"MonitoringScheduleName": _SCHEDULE},
            "create_monitoring_schedule: wait until Scheduled",
        ),
        Expected(
            "sagemaker",
            "UpdateMonitoringSchedule",
            {
                "MonitoringScheduleName": _SCHEDULE,
                "MonitoringScheduleConfig": {
                    "MonitoringJobDefinition": {"RoleArn": _ROLE}
                },
            },
            "create_monitoring_schedule: CreateMonitoringSchedule refused with "
            "ResourceInUse (schedule run again) -> monitoring.update_schedule",
        ),
        Expected(
            "sns",
            "CreateTopic",
            {"Name": TOPIC, "Tags": _TAGS},
            "alarms.ensure_topic",
        ),
        Expected(
            "sns",
            "Subscribe",
            {
                "TopicArn": f"arn:aws:sns:{_V['REGION']}:{_V['ACCOUNT_ID']}:{TOPIC}",
                "Protocol": "email",
            },
            "ensure_topic, per aws.alert_email",
        ),
        Expected(
            "sns",
            "ListTopics",
            {},
            "ensure_topic -> _topic_arn: CreateTopic refused for a topic that "
            "exists with other tags (paginator)",
        ),
        *(
            Expected(
                "cloudwatch",
                "PutMetricAlarm",
                {"AlarmName": name},
                "alarms.put_alarms: the drift and the silence alarm (untagged)",
            )
            for name in _ALARMS
        ),
        # The model-quality schedule, when the baseline measured model quality.
        Expected(
            "sagemaker",
            "CreateModelQualityJobDefinition",
            {"JobDefinitionName": _QUALITY_DEFINITION, "RoleArn": _ROLE, "Tags": _TAGS},
            "AwsBackend.create_quality_schedule -> model_quality.create_job_definition",
        ),
        Expected(
            "sagemaker",
            "CreateMonitoringSchedule",
            {"MonitoringScheduleName": _QUALITY_SCHEDULE, "Tags": _TAGS},
            "model_quality.create_schedule (MonitoringType ModelQuality)",
        ),
        Expected(
            "sagemaker",
            "DescribeMonitoringSchedule",
            {"MonitoringScheduleName": _QUALITY_SCHEDULE},
            "create_quality_schedule: the definition a schedule that exists names; "
            "the wait until Scheduled",
        ),
        Expected(
            "sagemaker",
            "UpdateMonitoringSchedule",
            {"MonitoringScheduleName": _QUALITY_SCHEDULE},
            "create_quality_schedule: the schedule exists -> update_schedule",
        ),
        Expected(
            "sagemaker",
            "DeleteModelQualityJobDefinition",
            {"JobDefinitionName": _QUALITY_DEFINITION},
            "create_quality_schedule: the definition replaced, or the new one "
            "when the schedule is refused",
        ),
        Expected(
            "cloudwatch",
            "PutMetricAlarm",
            {"AlarmName": _QUALITY_ALARM},
            "alarms.put_quality_alarm (untagged)",
        ),
    ],
    "status": [
        Expected(
            "sagemaker", "ListTrainingJobs", {"MaxResults": 20}, "AwsBackend.status"
        ),
        Expected("sagemaker", "ListProcessingJobs", {"MaxResults": 20}, "status"),
        Expected("sagemaker", "ListEndpoints", {"MaxResults": 20}, "status"),
        Expected("sagemaker", "ListMonitoringSchedules", {"MaxResults": 20}, "status"),
        Expected(
            "sagemaker",
            "ListMonitoringExecutions",
            {"MonitoringScheduleName": _SCHEDULE},
            "status -> _last_execution -> monitoring.last_execution, per schedule",
        ),
        LIST_VERSIONS,  # lifecycle.status: registry.list
        DESCRIBE_VERSION,
        # cli status -> rollout.status -> describe_variants, once deployed
        Expected("sagemaker", "DescribeEndpoint", {"EndpointName": _E}, "_serving"),
        Expected(
            "sagemaker",
            "DescribeEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "_serving; describe_variants: the variants' models",
        ),
        VARIANT_TRAFFIC,
    ],
    "models": [LIST_VERSIONS, DESCRIBE_VERSION],
    "lineage": [
        # AwsBackend.describe_endpoint_models: the endpoint, its config, each
        # variant's model (its model.tar.gz names the version).
        Expected(
            "sagemaker",
            "DescribeEndpoint",
            {"EndpointName": _E},
            "describe_endpoint_models -> _describe_endpoint",
        ),
        Expected(
            "sagemaker",
            "DescribeEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "describe_endpoint_models",
        ),
        Expected(
            "sagemaker",
            "DescribeModel",
            {"ModelName": _MODEL},
            "describe_endpoint_models -> _model_container, per variant",
        ),
        LIST_VERSIONS,  # lineage.of_endpoint / of_version: registry.list / get
        DESCRIBE_VERSION,
        *(
            Expected("s3", operation, params, "lineage.recorded_lineage -> fetch")
            for operation, params in (
                (
                    "ListObjectsV2",
                    {
                        "Bucket": _B,
                        "Prefix": f"{_P}/registry/{_GROUP}/{_TRAIN_JOB}/lineage.json",
                    },
                ),
                (
                    "HeadObject",
                    {
                        "Bucket": _B,
                        "Key": f"{_P}/registry/{_GROUP}/{_TRAIN_JOB}/lineage.json",
                    },
                ),
                (
                    "GetObject",
                    {
                        "Bucket": _B,
                        "Key": f"{_P}/registry/{_GROUP}/{_TRAIN_JOB}/lineage.json",
                    },
                ),
            )
        ),
    ],
    "teardown": [
        Expected(
            "sagemaker",
            "DescribeEndpoint",
            {"EndpointName": _E},
            "delete_endpoint -> _describe_endpoint",
        ),
        Expected(
            "sagemaker",
            "ListMonitoringSchedules",
            {"EndpointName": _E},
            "monitoring.schedules_for_endpoint",
        ),
        Expected(
            "sagemaker",
            "DeleteMonitoringSchedule",
            {"MonitoringScheduleName": _SCHEDULE},
            "monitoring.delete_schedule",
        ),
        Expected(
            "sagemaker",
            "DescribeMonitoringSchedule",
            {"MonitoringScheduleName": _SCHEDULE},
            "_wait_gone",
        ),
        Expected(
            "sagemaker",
            "DeleteModelQualityJobDefinition",
            {"JobDefinitionName": _QUALITY_DEFINITION},
            "delete_endpoint: the job definition of a model-quality schedule, "
            "once the schedule is gone",
        ),
        Expected(
            "cloudwatch",
            "DeleteAlarms",
            {"AlarmNames": [*_ALARMS, _QUALITY_ALARM]},
            "alarms.delete_alarms of alarm_names_for(endpoint)",
        ),
        *(
            Expected(
                "cloudwatch",
                "DeleteAlarms",
                {"AlarmNames": [name]},
                "delete_alarms one by one when one of them does not exist",
            )
            for name in (*_ALARMS, _QUALITY_ALARM)
        ),
        Expected(
            "sagemaker",
            "DescribeEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "_models_of",
        ),
        Expected(
            "sagemaker", "DeleteEndpoint", {"EndpointName": _E}, "delete_endpoint"
        ),
        Expected(
            "sagemaker",
            "DeleteEndpointConfig",
            {"EndpointConfigName": _CONFIG},
            "_delete_config_and_models",
        ),
        Expected(
            "sagemaker",
            "DeleteModel",
            {"ModelName": _MODEL},
            "_delete_config_and_models",
        ),
    ],
    "transform": [
        LIST_VERSIONS,  # the deployed or latest approved version
        DESCRIBE_VERSION,
        *ENSURE_IMAGE,  # only when the version records no image
        *_upload(
            f"{_P}/jobs/{_TRANSFORM_JOB}/input/test.csv",
            "run_transform_job -> _as_s3: inputs given as a local folder",
        ),
        Expected(
            "sagemaker",
            "CreateModel",
            {"ModelName": _TRANSFORM_MODEL, "ExecutionRoleArn": _ROLE, "Tags": _TAGS},
            "AwsBackend.run_transform_job: the job's own model",
        ),
        Expected(
            "sagemaker",
            "CreateTransformJob",
            {
                "TransformJobName": _TRANSFORM_JOB,
                "ModelName": _TRANSFORM_MODEL,
                "Tags": _TAGS,
            },
            "AwsBackend._transform",
        ),
        Expected(
            "sagemaker",
            "DescribeTransformJob",
            {"TransformJobName": _TRANSFORM_JOB},
            "_transform: wait",
        ),
        Expected(
            "sagemaker",
            "StopTransformJob",
            {"TransformJobName": _TRANSFORM_JOB},
            "_transform: Ctrl-C during the wait",
        ),
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": f"{_P}/transform/{_TRANSFORM_JOB}/"},
            "_transform: the .out objects written",
        ),
        Expected(
            "s3",
            "ListObjectsV2",
            {"Bucket": _B, "Prefix": f"{_P}/jobs/{_TRANSFORM_JOB}/output"},
            "_transform: the .out objects, output given as a local folder",
        ),
        *(
            Expected(
                "s3",
                operation,
                {"Bucket": _B, "Key": f"{_P}/transform/{_TRANSFORM_JOB}/test.csv.out"},
                "AwsBackend.fetch of the outputs (download_file)",
            )
            for operation in ("HeadObject", "GetObject")
        ),
        Expected(
            "sagemaker",
            "DeleteModel",
            {"ModelName": _TRANSFORM_MODEL},
            "run_transform_job -> _delete_job_model, however the job ended",
        ),
    ],
    "tune": [
        *ENSURE_IMAGE,
        *_upload(
            f"{_P}/jobs/{_TUNING_JOB}/input/train/train.csv",
            "run_tuning_job -> _as_s3: a channel given as a local folder",
        ),
        Expected(
            "sagemaker",
            "CreateHyperParameterTuningJob",
            {
                "HyperParameterTuningJobName": _TUNING_JOB,
                "TrainingJobDefinition": {"RoleArn": _ROLE},
                "Tags": _TAGS,
            },
            "AwsBackend.run_tuning_job",
        ),
        Expected(
            "sagemaker",
            "DescribeHyperParameterTuningJob",
            {"HyperParameterTuningJobName": _TUNING_JOB},
            "run_tuning_job: wait",
        ),
        Expected(
            "sagemaker",
            "StopHyperParameterTuningJob",
            {"HyperParameterTuningJobName": _TUNING_JOB},
            "run_tuning_job: Ctrl-C during the wait",
        ),
        Expected(
            "sagemaker",
            "ListTrainingJobsForHyperParameterTuningJob",
            {"HyperParameterTuningJobName": _TUNING_JOB},
            "tuning.list_trials (paginator)",
        ),
        Expected(
            "sagemaker",
            "DescribeTrainingJob",
            {"TrainingJobName": _TRIAL},
            "run_tuning_job: each completed trial's metrics and model",
        ),
        *_training_outputs(
            _TRIAL, "mlflow_runs.log_tuning_job -> training_outputs.read, per trial"
        ),
    ],
    "ingest": [
        *_upload(f"{_RAW}/raw/penguins-raw.csv", "ingest.ingest -> upload_data"),
    ],
    "pipeline": [
        *ENSURE_IMAGE,  # upsert: the image the steps run
        Expected(
            "sagemaker",
            "CreatePipeline",
            {"PipelineName": _PIPELINE, "RoleArn": _ROLE, "Tags": _TAGS},
            "pipelines.upsert -> aws.pipelines.upsert",
        ),
        Expected(
            "sagemaker",
            "UpdatePipeline",
            {"PipelineName": _PIPELINE, "RoleArn": _ROLE},
            "aws.pipelines.upsert: the pipeline exists",
        ),
        Expected(
            "sagemaker",
            "StartPipelineExecution",
            {"PipelineName": _PIPELINE},
            "pipelines.start",
        ),
        Expected(
            "sagemaker",
            "ListPipelineExecutions",
            {"PipelineName": _PIPELINE},
            "pipelines.status: the latest execution when none was started here",
        ),
        Expected(
            "sagemaker",
            "DescribePipelineExecution",
            {"PipelineExecutionArn": _EXECUTION},
            "pipelines.status",
        ),
        Expected(
            "sagemaker",
            "ListPipelineExecutionSteps",
            {"PipelineExecutionArn": _EXECUTION},
            "pipelines.status: every step, paged",
        ),
    ],
}
# `run` calls every step in turn (lifecycle.run; ensure_image first).
STEP_CALLS["run"] = [
    e for step in mapping()["run_is_the_union_of"] for e in STEP_CALLS[step]
]


def expected_calls(step: str) -> list[Call]:
    """STEP_CALLS[step] as calls for `violations`."""
    return [(step, e.service, e.operation, e.params) for e in STEP_CALLS[step]]


def needed_actions(calls: Iterable[Call], values: Mapping[str, str] = TEST_VALUES):
    """Every IAM action the calls need (tagging and PassRole included)."""
    return {
        request.action
        for _, service, operation, params in calls
        for request in iam_requests(service, operation, params, values)
    }


def unlisted(calls: Iterable[Call]) -> list[str]:
    """The recorded calls whose (step, service, operation) STEP_CALLS lacks."""
    listed = {
        (step, e.service, e.operation)
        for step, expected in STEP_CALLS.items()
        for e in expected
    }
    return list(
        dict.fromkeys(
            f"{step}: {service} {operation} is not in STEP_CALLS[{step!r}]"
            for step, service, operation, _ in calls
            if step and (step, service, operation) not in listed
        )
    )


def audit(calls: Iterable[Call], values: Mapping[str, str] = TEST_VALUES) -> list[str]:
    """Everything wrong with recorded calls: what their steps' documents refuse
    (`violations`), whose resource was not computed (`unchecked`) and what
    STEP_CALLS does not list (`unlisted`). Empty means all is well."""
    calls = list(calls)
    return [
        *violations(calls, values),
        *(f"{call}: resource not computed" for call in unchecked(calls, values)),
        *unlisted(calls),
    ]


# --- run.json ---------------------------------------------------------------------
def union_policy(steps: Sequence[str]) -> dict[str, Any]:
    """One document allowing exactly what the steps' documents allow together.

    Statements with the same resources and condition are merged (their actions
    added up), then statements with the same actions and condition (their
    resources added up); neither merge allows a pair the parts did not.
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for step in steps:
        for document in policy_documents(step_files(step), values=None):
            for statement in document["Statement"]:
                if statement["Effect"] != "Allow":
                    raise ValueError(f"{step}: only Allow statements can be merged")
                key = (
                    json.dumps(sorted(_as_list(statement["Resource"]))),
                    json.dumps(statement.get("Condition", {}), sort_keys=True),
                )
                group = groups.setdefault(
                    key,
                    {
                        "sid": statement.get("Sid", "Statement"),
                        "actions": set(),
                        "resources": set(),
                        "steps": [],
                    },
                )
                group["actions"].update(_as_list(statement["Action"]))
                group["resources"].update(_as_list(statement["Resource"]))
                group["condition"] = statement.get("Condition")
                if step not in group["steps"]:
                    group["steps"].append(step)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups.values():
        key = (
            json.dumps(sorted(group["actions"])),
            json.dumps(group["condition"] or {}, sort_keys=True),
        )
        if key in merged:
            merged[key]["resources"] |= group["resources"]
            merged[key]["steps"] += [
                s for s in group["steps"] if s not in merged[key]["steps"]
            ]
        else:
            merged[key] = {**group, "resources": set(group["resources"])}
    statements = []
    sids: set[str] = set()
    for group in merged.values():
        # The first document's Sid: naming every step it serves as well would
        # take run.json past IAM's 6144 characters (the README's table says
        # which step needs what).
        sid = group["sid"]
        n, base = 2, sid
        while sid in sids:
            sid, n = f"{base}{n}", n + 1
        sids.add(sid)
        actions = sorted(group["actions"])
        found = sorted(group["resources"])
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions[0] if len(actions) == 1 else actions,
            "Resource": found[0] if len(found) == 1 else found,
        }
        if group["condition"]:
            statement["Condition"] = group["condition"]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def run_policy_text() -> str:
    policy = union_policy(mapping()["run_is_the_union_of"])
    return json.dumps(policy, indent=2) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-run"]:
        sys.exit("usage: python tests/iam_policies.py --write-run")
    target = POLICIES / mapping()["steps"]["run"][0]
    target.write_text(run_policy_text())
    print(f"wrote {target.relative_to(REPO_ROOT)}")
