"""The Flask routes: thin, JSON on every path, one log line per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container.contract.bundle import load_bundle
from container.contract.settings import CaptureSettings, ServingSettings
from container.serving.app import create_app
from container.serving.capture import CaptureWriter

ROW = b"39.1,18.7,181,3750,Torgersen,male\n"


@pytest.fixture(scope="module")
def bundle(penguins_model_dir):
    return load_bundle(penguins_model_dir)


@pytest.fixture
def client(bundle):
    return create_app(bundle).test_client()


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_ping_is_200_when_the_model_predicts(client):
    assert client.get("/ping").status_code == 200


def test_ping_and_invocations_are_503_with_the_reason_when_loading_failed():
    client = create_app(None, load_error="model.json is missing").test_client()
    ping = client.get("/ping")
    assert ping.status_code == 503
    assert "model.json is missing" in ping.get_json()["error"]["message"]
    response = client.post("/invocations", data=ROW, content_type="text/csv")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_not_ready"


def test_invocations_csv_round_trip(client):
    response = client.post("/invocations", data=ROW * 3, content_type="text/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data == b"Adelie\nAdelie\nAdelie"


HUGE = "9" * 400  # parses as an int, cannot become a float


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", f"39.1,18.7,181,{HUGE},Torgersen,male"),
        (
            "application/json",
            '{"instances": [[39.1, 18.7, 181, ' + HUGE + ', "Biscoe", "male"]]}',
        ),
    ],
)
def test_a_400_digit_number_is_a_400_not_a_500(client, content_type, body):
    response = client.post("/invocations", data=body, content_type=content_type)
    assert response.status_code == 400, response.data
    assert b"too large for a 64-bit float" in response.data


def test_headers_reach_the_core(client):
    body = (
        b"zzz,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\n"
        b"1,39.1,18.7,181,3750,Torgersen,male\n"
    )
    response = client.post(
        "/invocations",
        data=body,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Accept": "application/json",
            "X-Amzn-SageMaker-Custom-Attributes": "probabilities=true",
        },
    )
    assert response.status_code == 200
    data = response.get_json()
    assert (
        data["predictions"] == ["Adelie"] and data["probabilities"][0]["Adelie"] == 1.0
    )
    assert response.headers["X-Ignored-Columns"] == "zzz"


def test_body_over_the_limit_is_413_json(bundle):
    client = create_app(bundle).test_client()
    body = ROW * (6 * 1024 * 1024 // len(ROW) + 1)
    response = client.post("/invocations", data=body, content_type="text/csv")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_batch_mode_uses_max_payload_in_mb(bundle):
    settings = ServingSettings.from_env(
        {
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
            "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
        }
    )
    client = create_app(bundle, settings).test_client()
    body = ROW * (1024 * 1024 // len(ROW) + 1)
    assert (
        client.post("/invocations", data=body, content_type="text/csv").status_code
        == 413
    )
    small = client.post("/invocations", data=ROW * 1000, content_type="text/csv")
    assert small.status_code == 200 and small.data.count(b"\n") == 999
    parameters = client.get("/execution-parameters").get_json()
    assert parameters == {
        "MaxConcurrentTransforms": 3,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_execution_parameters_defaults(client, bundle):
    from container.serving.workers import default_workers

    assert client.get("/execution-parameters").get_json() == {
        "MaxConcurrentTransforms": min(default_workers(), 16),
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }
    # Never more concurrency than SageMaker allows for the payload size.
    big = ServingSettings(batch=True, workers=8, max_payload_mb=50)
    parameters = create_app(bundle, big).test_client().get("/execution-parameters")
    assert parameters.get_json()["MaxConcurrentTransforms"] == 2


@pytest.mark.parametrize(
    "method, path, status",
    [("get", "/nowhere", 404), ("get", "/invocations", 405), ("post", "/ping", 405)],
)
def test_other_routes_answer_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert "/invocations" in response.get_json()["error"]["message"]


def test_one_structured_log_line_per_request(client, capsys):
    capsys.readouterr()
    client.post("/invocations", data=ROW * 2, content_type="text/csv")
    client.post("/invocations", data=b"x", content_type="text/plain")
    client.get("/ping")
    lines = log_lines(capsys)
    assert [line["status"] for line in lines] == [200, 415, 200]
    first, second, _ = lines
    assert first["records"] == 2 and first["error"] is None
    assert first["content_type"] == "text/csv" and first["path"] == "/invocations"
    assert first["latency_ms"] > 0 and first["time"].endswith("Z")
    assert second["error"] == "unsupported_content_type" and second["records"] == 0


def test_capture_records_each_successful_invocation(bundle, tmp_path):
    capture = CaptureWriter(CaptureSettings(destination=str(tmp_path)))
    client = create_app(bundle, capture=capture).test_client()
    for i in range(3):
        client.post(
            "/invocations",
            data=ROW,
            content_type="text/csv",
            headers={"X-Amzn-SageMaker-Inference-Id": f"id-{i}"},
        )
    client.post("/invocations", data=b"bad", content_type="text/csv")
    capture.close()
    records = [
        json.loads(line)
        for p in Path(tmp_path).rglob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert [r["eventMetadata"]["inferenceId"] for r in records] == [
        "id-0",
        "id-1",
        "id-2",
    ]
    assert records[0]["captureData"]["endpointInput"]["data"] == ROW.decode()
    assert records[0]["captureData"]["endpointOutput"]["data"] == "Adelie"


methods = st.sampled_from(["GET", "POST", "PUT", "DELETE"])
paths = st.sampled_from(["/ping", "/invocations", "/execution-parameters", "/x", "/"])
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=methods,
    path=paths,
    body=st.binary(max_size=200),
    content_type=st.one_of(
        st.none(),
        header_values,
        st.sampled_from(
            [
                "text/csv",
                "application/json",
                "application/jsonlines",
                "application/x-npy",
            ]
        ),
    ),
    accept=st.one_of(st.none(), header_values),
)
def test_the_app_never_answers_5xx(client, method, path, body, content_type, accept):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    response = client.open(path, method=method, data=body, headers=headers)
    assert response.status_code < 500, response.data
    if response.status_code >= 400:
        assert response.get_json()["error"]["code"]
