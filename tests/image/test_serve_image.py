"""`docker run IMAGE serve` with a trained model mounted read-only at /opt/ml/model."""

from __future__ import annotations

import threading
import time

import requests

from tests.image.docker_helpers import PAYLOADS, free_port, serving

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


def score_csv(url: str, body: bytes) -> list[str]:
    response = requests.post(
        f"{url}/invocations",
        data=body,
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.text.strip().splitlines()


def test_serve_pings_fast_and_scores_csv(docker_client, image, trained_model_dir):
    with serving(docker_client, image, trained_model_dir) as server:
        # SageMaker gives each ping 2 s; once the socket accepts, /ping must be green
        # well within that.
        assert server.seconds_to_first_ping - server.seconds_to_first_connection < 2.0
        lines = score_csv(server.url, (PAYLOADS / "penguins.csv").read_bytes())
    assert lines == ["Adelie", "Adelie", "Gentoo", "Gentoo", "Chinstrap", "Chinstrap"]


def test_scores_json_instances(docker_client, image, trained_model_dir):
    with serving(docker_client, image, trained_model_dir) as server:
        response = requests.post(
            f"{server.url}/invocations",
            data=(PAYLOADS / "penguins.json").read_bytes(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 6
    assert set(map(str, predictions)) <= SPECIES or all(
        p.get("label") in SPECIES for p in predictions if isinstance(p, dict)
    )


def test_bad_input_gets_a_4xx_json_error(docker_client, image, trained_model_dir):
    with serving(docker_client, image, trained_model_dir) as server:
        response = requests.post(
            f"{server.url}/invocations",
            data=b"not,a,valid\nrow",
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
        unsupported = requests.post(
            f"{server.url}/invocations",
            data=b"x",
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    assert unsupported.status_code == 415


def test_no_argument_serves_when_no_training_config(
    docker_client, image, trained_model_dir
):
    with serving(docker_client, image, trained_model_dir, command=()) as server:
        assert requests.get(f"{server.url}/ping", timeout=2).status_code == 200


def test_bind_to_port_moves_the_listening_port(docker_client, image, trained_model_dir):
    with serving(
        docker_client,
        image,
        trained_model_dir,
        port=9123,
        environment={"SAGEMAKER_BIND_TO_PORT": "9123"},
    ) as server:
        lines = score_csv(server.url, (PAYLOADS / "penguins.csv").read_bytes())
        assert len(lines) == 6


def test_serves_as_non_root_on_a_read_only_root_filesystem(
    docker_client, image, trained_model_dir
):
    with serving(
        docker_client,
        image,
        trained_model_dir,
        user="65534:65534",
        read_only=True,
        tmpfs={"/tmp": ""},
    ) as server:
        assert len(score_csv(server.url, (PAYLOADS / "penguins.csv").read_bytes())) == 6


def test_ping_reports_503_with_a_reason_when_no_model(docker_client, image, tmp_path):
    empty = tmp_path / "model"
    empty.mkdir()
    port = free_port()
    container = docker_client.containers.run(
        image,
        ["serve"],
        detach=True,
        volumes={str(empty): {"bind": "/opt/ml/model", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, container.logs().decode()[-2000:]
                time.sleep(0.1)
    finally:
        container.remove(force=True)
    assert response.status_code == 503
    assert "model" in response.text.lower()


def test_sigterm_answers_in_flight_requests_and_exits_quickly(
    docker_client, image, trained_model_dir
):
    row = (PAYLOADS / "penguins.csv").read_bytes().splitlines()[0] + b"\n"
    big = row * 60_000  # about 2.3 MB: long enough to be in flight at SIGTERM
    results: dict[str, object] = {}
    with serving(docker_client, image, trained_model_dir) as server:

        def send() -> None:
            try:
                results["lines"] = score_csv(server.url, big)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.15)
        started = time.monotonic()
        server.container.stop(timeout=25)  # SIGTERM, then SIGKILL after 25 s
        stopped_after = time.monotonic() - started
        sender.join(timeout=30)
        exit_code = server.container.wait(timeout=30)["StatusCode"]
    assert "error" not in results, results.get("error")
    assert len(results["lines"]) == 60_000
    assert stopped_after < 10, f"serve took {stopped_after:.1f} s to stop"
    assert exit_code == 0
