"""Hyperparameter tuning on the AWS backend: the CreateHyperParameterTuningJob
request against the service model, what SageMaker would refuse, the progress
and result read from DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob, and the backend's run.

moto creates and describes tuning jobs (always Completed, with one made-up
best job) but has no ListTrainingJobsForHyperParameterTuningJob or
StopHyperParameterTuningJob and runs no trial: those answers, and the
progress of a running job, come from botocore's Stubber. SageMaker SDK local
mode has no tuning jobs at all, so there is no run with real containers.
Every call a path makes is checked against the `tune` policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestration.aws import tuning
from orchestration.aws.errors import AwsCallFailed
from orchestration.aws.settings import DEFAULT_METRIC_NAMES
from orchestration.backends.base import ParameterRange, TrainingJobSpec, TuningJobSpec
from tests import iam_policies
from tests.orchestration import aws_conftest_helpers as helpers
from tests.orchestration.aws_conftest_helpers import (
    ARN_PREFIX,
    BUCKET,
    ROLE_ARN,
    CallLog,
    PartialStubber,
)
from tests.orchestration.test_aws_faults import no_backoff, throttle  # noqa: F401
from tests.orchestration.test_aws_transform import assert_valid

moto_url = helpers.moto_url
aws_settings = helpers.aws_settings
backend = helpers.backend

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-byoc:latest"
TAGS = {"project": "sklearn-byoc"}
NAME = "penguins-tune-1"
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TUNING_ARN = f"{ARN_PREFIX}:hyper-parameter-tuning-job/{NAME}"
OUTPUT = f"s3://{BUCKET}/penguins/training"
CHANNELS = {
    "train": f"s3://{BUCKET}/penguins/data/processed/train/",
    "validation": f"s3://{BUCKET}/penguins/data/processed/validation/",
}
DEPTH = ParameterRange("max_depth", "Integer", "2", "12")
LEAF = ParameterRange("min_samples_leaf", "Integer", "1", "20", "Logarithmic")
ALPHA = ParameterRange("ccp_alpha", "Continuous", "0.0001", "0.1", "Logarithmic")
CRITERION = ParameterRange(
    "criterion", "Categorical", values=("gini", "entropy", "log_loss")
)


def training(**hyperparameters: str) -> TrainingJobSpec:
    return TrainingJobSpec(
        job_name="penguins-tune-1-trial",
        image=IMAGE,
        hyperparameters={"target": "species", "max_depth": "5", **hyperparameters},
        channels=CHANNELS,
        environment={"SM_LOG_LEVEL": "20"},
    )


def spec(**overrides) -> TuningJobSpec:
    values = dict(
        tuning_job_name=NAME,
        training=training(),
        objective_metric="validation:accuracy",
        objective_type="Maximize",
        ranges=(DEPTH, CRITERION),
    )
    return TuningJobSpec(**{**values, **overrides})


def request_for(s: TuningJobSpec, metric_names=DEFAULT_METRIC_NAMES) -> dict:
    return tuning.tuning_request(s, ROLE_ARN, CHANNELS, OUTPUT, metric_names, 10, TAGS)


# The most a tuning job takes: 30 searched hyperparameters, 30 values in a
# categorical range, 100 hyperparameters in all, 20 metric definitions.
MAXIMAL = spec(
    training=training(**{f"static_{i}": str(i) for i in range(68)}),
    ranges=(
        *(ParameterRange(f"int_{i}", "Integer", "1", "100", "Auto") for i in range(9)),
        ParameterRange("ccp_alpha", "Continuous", "0", "0.999", "ReverseLogarithmic"),
        *(
            ParameterRange(f"float_{i}", "Continuous", "0.5", "2.5", "Linear")
            for i in range(10)
        ),
        ParameterRange("criterion", "Categorical", values=tuple(map(str, range(30)))),
        *(
            ParameterRange(f"choice_{i}", "Categorical", values=("a", "b"))
            for i in range(9)
        ),
    ),
    strategy="Bayesian",
    max_jobs=750,
    max_parallel_jobs=100,
    early_stopping="Auto",
    random_seed=0,
)


# --- the request ---------------------------------------------------------------
@pytest.mark.parametrize(
    "tuning_spec",
    [
        spec(),
        spec(strategy="Bayesian", ranges=(LEAF, ALPHA), early_stopping="Auto"),
        spec(strategy="Grid", ranges=(CRITERION,)),
        spec(
            strategy="Hyperband",
            training=training(epochs="50"),
            ranges=(DEPTH, ALPHA),
            random_seed=7,
        ),
        MAXIMAL,
    ],
    ids=["random", "bayesian", "grid", "hyperband", "max"],
)
def test_tuning_requests_pass_the_service_model(tuning_spec):
    assert_valid("CreateHyperParameterTuningJob", request_for(tuning_spec))


def test_the_trials_share_the_training_definition_minus_the_searched_names():
    request = request_for(spec())
    definition = request["TrainingJobDefinition"]
    # max_depth is searched, so it is not static.
    assert definition["StaticHyperParameters"] == {"target": "species"}
    assert definition["RoleArn"] == ROLE_ARN
    assert definition["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert [c["ChannelName"] for c in definition["InputDataConfig"]] == [
        "train",
        "validation",
    ]
    assert definition["OutputDataConfig"] == {"S3OutputPath": OUTPUT}
    assert definition["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert definition["Environment"] == {"SM_LOG_LEVEL": "20"}
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:accuracy",
    }
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
    }
    assert config["ParameterRanges"] == {
        "IntegerParameterRanges": [
            {
                "Name": "max_depth",
                "MinValue": "2",
                "MaxValue": "12",
                "ScalingType": "Auto",
            }
        ],
        "CategoricalParameterRanges": [
            {"Name": "criterion", "Values": ["gini", "entropy", "log_loss"]}
        ],
    }
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert "RandomSeed" not in config and "StrategyConfig" not in config
    assert request["Tags"] == [{"Key": "project", "Value": "sklearn-byoc"}]


def test_the_objective_leads_at_most_twenty_metric_definitions():
    definitions = request_for(spec(objective_metric="validation:log_loss"))[
        "TrainingJobDefinition"
    ]["AlgorithmSpecification"]["MetricDefinitions"]
    names = [d["Name"] for d in definitions]
    assert len(DEFAULT_METRIC_NAMES) > 20 and len(names) == 20
    assert names[0] == "validation:log_loss"
    # The objective's split next, then the others.
    assert names[1:8] == [
        m
        for m in DEFAULT_METRIC_NAMES
        if m.startswith("validation:") and m != "validation:log_loss"
    ]
    assert len(set(names)) == 20


def test_grid_leaves_the_number_of_trials_to_sagemaker():
    config = request_for(spec(strategy="Grid", ranges=(CRITERION,), max_jobs=99))[
        "HyperParameterTuningJobConfig"
    ]
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": 2}


def test_hyperband_allocates_the_epochs_hyperparameter():
    config = request_for(
        spec(strategy="Hyperband", training=training(num_epochs="40"))
    )["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 40}
    }
    assert config["TrainingJobEarlyStoppingType"] == "Off"


def test_a_random_seed_is_sent_when_set():
    config = request_for(spec(random_seed=0))["HyperParameterTuningJobConfig"]
    assert config["RandomSeed"] == 0


# --- what SageMaker refuses ---------------------------------------------------------
def ranged(*ranges: ParameterRange, **overrides) -> TuningJobSpec:
    return spec(ranges=ranges, **overrides)


@pytest.mark.parametrize(
    ("tuning_spec", "message"),
    [
        (spec(strategy="Evolution"), "strategy='Evolution' is not one of Bayesian"),
        (spec(objective_type="Max"), "objective_type='Max' is not one of Maximize"),
        (spec(early_stopping="On"), "early_stopping='On' is not one of Off, Auto"),
        (
            spec(objective_metric="validation:auc"),
            "objective metric 'validation:auc' is not one of the metrics",
        ),
        (spec(ranges=()), "it searches no hyperparameter"),
        (ranged(DEPTH, DEPTH), "hyperparameter(s) ['max_depth'] have more than one"),
        (
            ranged(*(ParameterRange(f"p{i}", "Integer", "1", "2") for i in range(31))),
            "31 searched hyperparameters, more than the 30",
        ),
        (ranged(ParameterRange("x", "Float", "1", "2")), "kind 'Float' is not one of"),
        (
            ranged(ParameterRange("x", "Categorical", "1", values=("a",))),
            "a Categorical range takes values, not min_value/max_value",
        ),
        (
            ranged(
                ParameterRange(
                    "x",
                    "Categorical",
                    values=tuple("abcdefghijklmnopqrstuvwxyz0123456"[:31]),
                )
            ),
            "31 values; a Categorical range takes 1-30",
        ),
        (ranged(ParameterRange("x", "Categorical")), "0 values; a Categorical range"),
        (
            ranged(ParameterRange("x", "Categorical", values=("a", "a"))),
            "values ['a', 'a'] repeat a value",
        ),
        (
            ranged(ParameterRange("x", "Integer", "1", "3", values=("2",))),
            "an Integer range takes min_value and max_value, not values",
        ),
        (
            ranged(ParameterRange("x", "Integer", "1.5", "3")),
            "min_value='1.5' and max_value='3' must be whole numbers",
        ),
        (
            ranged(ParameterRange("x", "Continuous", "low", "3")),
            "min_value='low' and max_value='3' must be numbers",
        ),
        (
            ranged(ParameterRange("x", "Continuous", "0.1", "inf")),
            "must be numbers",
        ),
        (
            ranged(ParameterRange("x", "Integer", "9", "3")),
            "range 'x': min_value=9 is greater than max_value=3",
        ),
        (
            ranged(ParameterRange("x", "Integer", "1", "3", "ReverseLogarithmic")),
            "scaling 'ReverseLogarithmic' is not one of Auto, Linear, Logarithmic "
            "for an Integer range",
        ),
        (
            ranged(ParameterRange("x", "Continuous", "0", "1", "Exponential")),
            "scaling 'Exponential' is not one of",
        ),
        (
            ranged(ParameterRange("x", "Continuous", "0", "1", "Logarithmic")),
            "Logarithmic scaling needs min_value > 0, got 0",
        ),
        (
            ranged(ParameterRange("x", "Integer", "-2", "3", "Logarithmic")),
            "Logarithmic scaling needs min_value > 0, got -2",
        ),
        (
            ranged(ParameterRange("x", "Continuous", "0.5", "1", "ReverseLogarithmic")),
            "ReverseLogarithmic scaling needs 0 <= min_value and max_value < 1",
        ),
        (
            ranged(DEPTH, CRITERION, strategy="Grid"),
            "the Grid strategy searches categorical ranges only; Integer ranges",
        ),
        (
            ranged(
                *(
                    ParameterRange(f"c{i}", "Categorical", values=("a", "b", "c"))
                    for i in range(7)
                ),
                strategy="Grid",
            ),
            "every combination of the categorical values: 2187, more than the 750",
        ),
        (spec(max_jobs=0), "max_jobs=0 must be 1-10000 with the Random strategy"),
        (spec(max_jobs=10001), "max_jobs=10001 must be 1-10000 with the Random"),
        (
            spec(strategy="Bayesian", max_jobs=751),
            "max_jobs=751 must be 1-750 with the Bayesian strategy",
        ),
        (
            spec(
                strategy="Hyperband",
                training=training(epochs="10"),
                early_stopping="Auto",
            ),
            "early_stopping must be Off with it",
        ),
        (
            spec(strategy="Hyperband"),
            "the Hyperband strategy allocates training epochs, read from a static "
            "hyperparameter named one of epochs",
        ),
        (
            spec(strategy="Hyperband", training=training(epochs="ten")),
            "hyperparameter epochs='ten', which must be a whole number 1-20000",
        ),
        (
            spec(strategy="Hyperband", training=training(epochs="20001")),
            "which must be a whole number 1-20000",
        ),
        (spec(max_parallel_jobs=0), "max_parallel_jobs=0 must be 1 or more"),
        (spec(random_seed=-1), "random_seed=-1 must be 0 or more"),
        (
            spec(training=training(**{f"s{i}": "1" for i in range(99)})),
            "100 static and 2 searched hyperparameters make 102, more than the 100",
        ),
    ],
)
def test_what_sagemaker_refuses_is_refused_first(tuning_spec, message):
    with pytest.raises(tuning.InvalidTuningSpec) as caught:
        request_for(tuning_spec)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"tuning job {NAME}: ")


@pytest.mark.parametrize(
    "name", ["penguins-tune-20260101-120000-001", "penguins_tune", "-tune", "tune-"]
)
def test_tuning_job_names_sagemaker_refuses(name):
    with pytest.raises(tuning.InvalidTuningSpec, match="use at most 32 letters"):
        request_for(spec(tuning_job_name=name))


def test_a_32_character_name_is_taken():
    name = "penguins-tune-20260101-120000-01"
    assert len(name) == 32
    assert (
        request_for(spec(tuning_job_name=name))["HyperParameterTuningJobName"] == name
    )


# --- what the job says ----------------------------------------------------------
def counters(**counts: int) -> dict:
    keys = ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped")
    return {k: counts.get(k, 0) for k in keys}


def tuning_description(status: str, training_counts: dict, **extra) -> dict:
    """DescribeHyperParameterTuningJob's answer, as the service model shapes it."""
    request = request_for(spec(max_jobs=8))
    answer = {
        "HyperParameterTuningJobName": NAME,
        "HyperParameterTuningJobArn": TUNING_ARN,
        "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": request["TrainingJobDefinition"],
        "HyperParameterTuningJobStatus": status,
        "CreationTime": START,
        "TrainingJobStatusCounters": training_counts,
        "ObjectiveStatusCounters": {"Succeeded": 0, "Pending": 0, "Failed": 0},
        **extra,
    }
    assert_valid("DescribeHyperParameterTuningJob", answer, output=True)
    return answer


def trial_summary(number: int, status: str, value: float | None, **extra) -> dict:
    name = f"{NAME}-{number:03d}-0a1b2c3d"
    summary = {
        "TrainingJobName": name,
        "TrainingJobArn": f"{ARN_PREFIX}:training-job/{name}",
        "TuningJobName": NAME,
        "CreationTime": START + timedelta(minutes=number),
        "TrainingStartTime": START + timedelta(minutes=number, seconds=30),
        "TrainingEndTime": START + timedelta(minutes=number + 2),
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"max_depth": str(number + 2), "criterion": '"gini"'},
        "ObjectiveStatus": "Succeeded" if value is not None else "Failed",
        **extra,
    }
    if value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:accuracy",
            "Value": value,
        }
    return summary


TRIAL_FAILED = "AlgorithmError: max_depth must be at least 1, got 0"
TRIALS = [
    trial_summary(2, "Completed", 0.9855),
    trial_summary(1, "Completed", 0.9420),
    trial_summary(3, "Failed", None, FailureReason=TRIAL_FAILED),
    trial_summary(4, "Stopped", None),
]
BEST = {k: v for k, v in TRIALS[0].items() if k != "TuningJobName"}


def trial_description(summary: dict) -> dict:
    name = summary["TrainingJobName"]
    answer = {
        "TrainingJobName": name,
        "TrainingJobArn": summary["TrainingJobArn"],
        "TuningJobArn": TUNING_ARN,
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": f"{OUTPUT}/{name}/output/model.tar.gz"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": summary["CreationTime"],
        "TrainingStartTime": summary["TrainingStartTime"],
        "TrainingEndTime": summary["TrainingEndTime"],
        "FinalMetricDataList": [
            {
                "MetricName": "validation:accuracy",
                "Value": summary["FinalHyperParameterTuningJobObjectiveMetric"][
                    "Value"
                ],
                "Timestamp": summary["TrainingEndTime"],
            },
            {"MetricName": "train:accuracy", "Value": 1.0, "Timestamp": START},
        ],
    }
    assert_valid("DescribeTrainingJob", answer, output=True)
    return answer


@pytest.mark.parametrize(
    ("training_counts", "text"),
    [
        (counters(), "0/8 completed"),
        (counters(Completed=3, InProgress=2), "3/8 completed, 2 in progress"),
        (
            counters(Completed=5, RetryableError=1, NonRetryableError=1, Stopped=1),
            "5/8 completed, 2 failed, 1 stopped",
        ),
    ],
)
def test_progress_counts_the_trials(training_counts, text):
    description = tuning_description("InProgress", training_counts)
    assert tuning.progress_detail(description) == text


def test_grid_progress_has_no_total():
    description = tuning_description("InProgress", counters(Completed=2))
    del description["HyperParameterTuningJobConfig"]["ResourceLimits"][
        "MaxNumberOfTrainingJobs"
    ]
    assert tuning.progress_detail(description) == "2 completed"


def test_the_result_holds_every_trial_and_the_best():
    description = tuning_description(
        "Completed",
        counters(Completed=2, NonRetryableError=1, Stopped=1),
        HyperParameterTuningEndTime=START + timedelta(minutes=9),
        BestTrainingJob=BEST,
    )
    described = {t["TrainingJobName"]: trial_description(t) for t in TRIALS[:2]}
    result = tuning.result_from(description, TRIALS, described)
    assert result.status == "Completed"
    assert result.duration_seconds == 540.0
    assert [t.job_name for t in result.trials] == [
        f"{NAME}-{n:03d}-0a1b2c3d" for n in (1, 2, 3, 4)
    ]
    assert result.best_job_name == f"{NAME}-002-0a1b2c3d"
    best = result.best
    assert best.objective_value == 0.9855
    assert best.hyperparameters == {"max_depth": "4", "criterion": '"gini"'}
    assert best.metrics == {"validation:accuracy": 0.9855, "train:accuracy": 1.0}
    assert best.model_artifact == f"{OUTPUT}/{best.job_name}/output/model.tar.gz"
    assert best.duration_seconds == 90.0
    failed = result.trials[2]
    assert (failed.status, failed.failure_reason) == ("Failed", TRIAL_FAILED)
    assert failed.objective_value is None and failed.model_artifact is None
    assert failed.metrics == {}
    assert result.trials[3].status == "Stopped"


def test_a_failed_tuning_job_keeps_its_reason():
    reason = "All training jobs failed: AlgorithmError: max_depth must be at least 1"
    description = tuning_description(
        "Failed", counters(NonRetryableError=1), FailureReason=reason
    )
    result = tuning.result_from(description, [TRIALS[2]], {})
    assert (result.status, result.failure_reason) == ("Failed", reason)
    assert result.best_job_name is None and result.best is None


# --- the backend ---------------------------------------------------------------------
def logged(backend) -> CallLog:
    log = CallLog(step="tune")
    log.attach(backend.clients)
    return log


def list_pages(stub: PartialStubber, trials: list[dict]) -> None:
    """Two pages, as SageMaker pages them (NextToken)."""
    first, rest = trials[:2], trials[2:]
    stub.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": first, "NextToken": "page-2"},
        {"HyperParameterTuningJobName": NAME, "MaxResults": 100},
    )
    stub.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": rest},
        {"HyperParameterTuningJobName": NAME, "MaxResults": 100, "NextToken": "page-2"},
    )


def test_a_tuning_job_on_moto_reports_its_trials_and_the_best(backend, tmp_path):
    """moto creates and describes the job (Completed, its own best job named
    FakeTrainingJobName); the trials' list and descriptions are stubbed."""
    local = tmp_path / "train"
    local.mkdir()
    (local / "train.csv").write_text("species,bill_length_mm\nAdelie,39.1\n")
    log = logged(backend)
    stub = PartialStubber(
        backend.clients.sagemaker,
        {"ListTrainingJobsForHyperParameterTuningJob", "DescribeTrainingJob"},
    )
    best = trial_summary(1, "Completed", 0.97, TrainingJobName="FakeTrainingJobName")
    list_pages(stub, [best, TRIALS[2]])
    stub.add_response(
        "describe_training_job",
        trial_description(best),
        {"TrainingJobName": "FakeTrainingJobName"},
    )
    progress: list[str] = []
    s = spec(
        training=TrainingJobSpec(
            job_name="t",
            image=IMAGE,
            hyperparameters={"target": "species"},
            channels={"train": str(local)},
        )
    )
    with stub:
        result = backend.run_tuning_job(s, progress.append)
    stub.assert_no_pending_responses()
    assert result.status == "Completed"
    assert result.best_job_name == "FakeTrainingJobName"
    assert result.best.model_artifact.endswith("/output/model.tar.gz")
    assert [t.status for t in result.trials] == ["Completed", "Failed"]
    (created,) = log.params["CreateHyperParameterTuningJob"]
    channel = created["TrainingJobDefinition"]["InputDataConfig"][0]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://{BUCKET}/penguins/jobs/{NAME}/input/train/"
    )
    assert created["TrainingJobDefinition"]["OutputDataConfig"] == {
        "S3OutputPath": f"s3://{BUCKET}/penguins/models"
    }
    assert progress[0] == (
        f"tuning job {NAME} created: Random search of max_depth, criterion by "
        "validation:accuracy (Maximize)"
    )
    assert progress[1] == f"tuning job {NAME}: Completed (1/4 completed)"
    assert log.operations("tune") == [
        "PutObject",
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob",
        "DescribeTrainingJob",  # the completed trial only
    ]
    assert iam_policies.audit(log.requests) == []


def stub_run(backend, *descriptions: dict) -> PartialStubber:
    stub = PartialStubber(
        backend.clients.sagemaker,
        {
            "CreateHyperParameterTuningJob",
            "DescribeHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
            "DescribeTrainingJob",
            "StopHyperParameterTuningJob",
        },
    )
    stub.add_response(
        "create_hyper_parameter_tuning_job",
        {"HyperParameterTuningJobArn": TUNING_ARN},
    )
    for description in descriptions:
        stub.add_response("describe_hyper_parameter_tuning_job", description)
    return stub


def test_each_change_of_the_counters_is_reported_once(backend):
    log = logged(backend)
    running = tuning_description("InProgress", counters(InProgress=2))
    stub = stub_run(
        backend,
        running,
        running,
        tuning_description("InProgress", counters(Completed=2, InProgress=2)),
        tuning_description(
            "Completed",
            counters(Completed=2, NonRetryableError=1, Stopped=1),
            BestTrainingJob=BEST,
            HyperParameterTuningEndTime=START + timedelta(minutes=9),
        ),
    )
    list_pages(stub, TRIALS)
    for trial in TRIALS[:2]:
        stub.add_response(
            "describe_training_job",
            trial_description(trial),
            {"TrainingJobName": trial["TrainingJobName"]},
        )
    progress: list[str] = []
    with stub:
        result = backend.run_tuning_job(spec(max_jobs=8), progress.append)
    stub.assert_no_pending_responses()
    assert progress[1:] == [
        f"tuning job {NAME}: InProgress (0/8 completed, 2 in progress)",
        f"tuning job {NAME}: InProgress (2/8 completed, 2 in progress)",
        f"tuning job {NAME}: Completed (2/8 completed, 1 failed, 1 stopped)",
    ]
    assert result.best.objective_value == 0.9855
    assert result.trials[2].failure_reason == TRIAL_FAILED
    assert iam_policies.audit(log.requests) == []


def test_a_failed_tuning_job_is_a_result_not_an_error(backend):
    reason = "All training jobs failed"
    stub = stub_run(
        backend,
        tuning_description(
            "Failed", counters(NonRetryableError=1), FailureReason=reason
        ),
    )
    list_pages(stub, [TRIALS[2]])
    progress: list[str] = []
    with stub:
        result = backend.run_tuning_job(spec(), progress.append)
    assert (result.status, result.failure_reason) == ("Failed", reason)
    assert progress[-1] == f"tuning job {NAME} Failed: {reason}"


def test_ctrl_c_stops_the_tuning_job(backend):
    log = logged(backend)
    stub = stub_run(backend, tuning_description("InProgress", counters(InProgress=2)))
    stub.add_response(
        "stop_hyper_parameter_tuning_job", {}, {"HyperParameterTuningJobName": NAME}
    )
    lines: list[str] = []

    def interrupt_while_waiting(line: str) -> None:
        lines.append(line)
        if "InProgress" in line:
            raise KeyboardInterrupt

    with stub, pytest.raises(KeyboardInterrupt):
        backend.run_tuning_job(spec(), interrupt_while_waiting)
    stub.assert_no_pending_responses()
    assert log.operations("tune")[-1] == "StopHyperParameterTuningJob"
    assert lines[-1] == f"tuning job {NAME}: stop requested (its trials stop too)"
    assert iam_policies.audit(log.requests) == []


def test_a_refused_tuning_job_is_one_line_naming_the_call(backend):
    stub = PartialStubber(backend.clients.sagemaker, {"CreateHyperParameterTuningJob"})
    stub.add_client_error(
        "create_hyper_parameter_tuning_job",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level limit for parallel training jobs is 10",
    )
    with stub, pytest.raises(AwsCallFailed) as caught:
        backend.run_tuning_job(spec(max_parallel_jobs=20))
    assert caught.value.message == (
        f"creating tuning job {NAME} failed: ResourceLimitExceeded: The account-level "
        "limit for parallel training jobs is 10 (ask for a quota increase or pick a "
        "smaller instance type)"
    )


def test_a_spec_sagemaker_would_refuse_makes_no_call(backend):
    log = logged(backend)
    with pytest.raises(tuning.InvalidTuningSpec, match="Grid strategy searches"):
        backend.run_tuning_job(spec(strategy="Grid"))
    assert log.calls == []


def test_a_throttled_wait_is_retried_by_botocore(backend, no_backoff):  # noqa: F811
    attempts = throttle(
        backend.clients.sagemaker, "DescribeHyperParameterTuningJob", times=2
    )
    stub = PartialStubber(
        backend.clients.sagemaker, {"ListTrainingJobsForHyperParameterTuningJob"}
    )
    stub.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": []},
    )
    with stub:
        result = backend.run_tuning_job(spec())
    assert result.status == "Completed" and result.trials == ()
    assert len(attempts) == 3  # two throttled, the third answered by moto
