"""The SageMaker environment, read once, typed, with errors that name the variable."""

from __future__ import annotations

import pytest

from container.contract.errors import SettingsError
from container.contract.settings import (
    CaptureSettings,
    MonitoringJobSettings,
    ServingSettings,
    TrainingEnvironment,
)

MB = 1024 * 1024


def test_serving_defaults_follow_the_contract():
    settings = ServingSettings.from_env({})
    assert settings.port == 8080
    assert settings.timeout_seconds == 60
    assert settings.batch is False
    assert settings.max_payload_bytes == 6 * MB  # InvokeEndpoint's body limit


def test_the_compiled_predictor_is_on_unless_turned_off():
    assert ServingSettings.from_env({}).compiled_predictor is True
    off = {"SKLEARN_BYOC_COMPILED_PREDICTOR": "false"}
    assert ServingSettings.from_env(off).compiled_predictor is False


def test_serving_reads_every_sagemaker_variable():
    settings = ServingSettings.from_env(
        {
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "SAGEMAKER_SAFE_PORT_RANGE": "9001-9010",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json",
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_BATCH_STRATEGY": "single_record",
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
        }
    )
    assert (settings.port, settings.safe_port_range) == (9000, (9001, 9010))
    assert (settings.workers, settings.timeout_seconds) == (3, 120)
    assert settings.default_accept == "application/json"
    assert settings.batch and settings.batch_strategy == "SINGLE_RECORD"
    assert settings.max_concurrent_transforms == 4
    assert settings.max_payload_bytes == 20 * MB


@pytest.mark.parametrize(
    ("env", "expected_bytes"),
    [
        ({"SAGEMAKER_BATCH": "true"}, 6 * MB),
        # 0 means "no limit" to SageMaker; we cap it at the API's 100 MB.
        ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, 100 * MB),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"}, 6 * MB),  # realtime ignores it
    ],
)
def test_payload_limit(env, expected_bytes):
    assert ServingSettings.from_env(env).max_payload_bytes == expected_bytes


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT='http'"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "between 1 and 65535"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000"}, "expected 'XXXX-YYYY'"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9010-9000"}, "not a valid inclusive"),
        ({"SAGEMAKER_BATCH": "maybe"}, "not a boolean"),
        ({"SAGEMAKER_BATCH_STRATEGY": "ALL"}, "SINGLE_RECORD, MULTI_RECORD"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "101"}, "between 0 and 100"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS"),
        ({"SKLEARN_BYOC_COMPILED_PREDICTOR": "fast"}, "not a boolean"),
    ],
)
def test_bad_serving_values_name_the_variable(env, fragment):
    with pytest.raises(SettingsError) as error:
        ServingSettings.from_env(env)
    assert fragment in error.value.message


def test_capture_is_off_without_a_destination_and_parses_lists():
    assert not CaptureSettings.from_env({}).enabled
    capture = CaptureSettings.from_env(
        {
            "SKLEARN_BYOC_CAPTURE_DESTINATION": "/capture",
            "SKLEARN_BYOC_CAPTURE_SAMPLING_PERCENTAGE": "25",
            "SKLEARN_BYOC_CAPTURE_MODES": '["Input"]',
            "SKLEARN_BYOC_CAPTURE_CSV_CONTENT_TYPES": "text/csv, text/plain",
        }
    )
    assert capture.enabled and capture.sampling_percentage == 25.0
    assert (capture.capture_input, capture.capture_output) == (True, False)
    assert capture.csv_content_types == ("text/csv", "text/plain")
    with pytest.raises(SettingsError, match="allowed modes are Input and Output"):
        CaptureSettings.from_env({"SKLEARN_BYOC_CAPTURE_MODES": "Input,Both"})


def test_toolkit_hyperparameters_are_strings_and_sm_hp_overrides_sm_hps():
    env = TrainingEnvironment.from_env(
        {
            "SM_HPS": '{"max_depth": 5, "target": "species", "verbose": true}',
            "SM_HP_MAX_DEPTH": "7",
            "SM_CHANNEL_TRAIN": "/opt/ml/input/data/train",
            "TRAINING_JOB_NAME": "job-1",
        }
    )
    assert env.hyperparameters == {
        "max_depth": "7",
        "target": "species",
        "verbose": "true",
    }
    assert env.channels == {"train": "/opt/ml/input/data/train"}
    assert env.job_name == "job-1"
    with pytest.raises(SettingsError, match="SM_HPS is not valid JSON"):
        TrainingEnvironment.from_env({"SM_HPS": "{"})


def test_monitoring_job_settings_read_the_contract_names():
    settings = MonitoringJobSettings.from_env(
        {
            "dataset_source": "/opt/ml/processing/input/endpoint",
            "publish_cloudwatch_metrics": "Enabled",
            "start_time": "2026-04-18T00:00:00Z",
        }
    )
    assert settings.dataset_source == "/opt/ml/processing/input/endpoint"
    assert settings.publish_cloudwatch_metrics is True
    assert settings.start_time == "2026-04-18T00:00:00Z"
    assert MonitoringJobSettings.from_env({}).publish_cloudwatch_metrics is False
