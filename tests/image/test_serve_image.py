"""`docker run IMAGE serve` with a trained model mounted read-only at /opt/ml/model."""

from __future__ import annotations

import contextlib
import socket
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
        # SageMaker gives each ping 2 s. While the model loads, nginx answers
        # a JSON 503 at once, so no ping is left waiting, however busy the
        # machine (the time to the first 200 is measured in benchmarks/).
        assert server.unanswered_pings == 0
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


# --- the front proxy (nginx) -----------------------------------------------------
SLOW_HEADER = (
    b"POST /invocations HTTP/1.1\r\nHost: slow\r\nContent-Type: text/csv\r\n"
    b"Content-Length: 100\r\n\r\n"
)
HEADER_TIMEOUT_SECONDS = 10  # container/serving/proxy.py


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_clients_do_not_starve_ping_and_are_cut_off(
    docker_client, image, trained_model_dir
):
    row = (PAYLOADS / "penguins.csv").read_bytes().splitlines()[0] + b"\n"
    with serving(docker_client, image, trained_model_dir) as server:
        # 16 send their headers one byte a second, 16 send whole headers then
        # the body one byte a second, and one sends nothing at all: far more
        # than the workers (two per CPU).
        slow_headers = [_connect(server.url) for _ in range(16)]
        slow_bodies = [_connect(server.url) for _ in range(16)]
        idle = _connect(server.url)
        for sock in slow_bodies:
            sock.sendall(SLOW_HEADER)
        stop = threading.Event()

        def trickle() -> None:
            for i in range(len(SLOW_HEADER)):
                for sock in slow_headers:
                    with contextlib.suppress(OSError):
                        sock.sendall(SLOW_HEADER[i : i + 1])
                for sock in slow_bodies:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"1")
                if stop.wait(1.0):
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        started = time.monotonic()
        ping_seconds: list[float] = []
        try:
            while time.monotonic() - started < HEADER_TIMEOUT_SECONDS + 2:
                t0 = time.monotonic()
                response = requests.get(f"{server.url}/ping", timeout=2)
                ping_seconds.append(time.monotonic() - t0)
                assert response.status_code == 200
                assert score_csv(server.url, row) == ["Adelie"]
                time.sleep(0.25)
            # Every header has been dribbling (or absent) for longer than
            # the header timeout: nginx has closed those connections.
            assert all(_closed_by_server(sock) for sock in slow_headers)
            assert _closed_by_server(idle)
        finally:
            stop.set()
            sender.join(timeout=5)
            for sock in [*slow_headers, *slow_bodies, idle]:
                sock.close()
    assert len(ping_seconds) > 10 and max(ping_seconds) < 2.0


def test_the_proxy_answers_a_too_large_body_with_json(
    docker_client, image, trained_model_dir
):
    with serving(docker_client, image, trained_model_dir) as server:
        response = requests.post(
            f"{server.url}/invocations",
            data=b"1" * (6 * 1024 * 1024 + 1),
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
        ping = requests.get(f"{server.url}/ping", timeout=2)
    assert response.status_code == 413
    assert response.headers["Server"] == "nginx"  # refused before any worker
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "6291456 bytes" in error["message"]
    assert ping.status_code == 200


def test_ping_is_a_json_503_while_the_workers_start(
    docker_client, image, trained_model_dir
):
    port = free_port()
    container = docker_client.containers.run(
        image,
        ["serve"],
        detach=True,
        volumes={str(trained_model_dir): {"bind": "/opt/ml/model", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
    )
    early: list[requests.Response] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/ping", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.01)
                continue
            if response.status_code == 200:
                break
            early.append(response)
            time.sleep(0.02)
        else:
            raise AssertionError(container.logs().decode()[-2000:])
    finally:
        container.remove(force=True)
    # Importing scikit-learn and pandas takes about a second: nginx answers
    # long before the workers are there.
    assert early
    for response in early:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_not_ready"
        assert "starting" in response.json()["error"]["message"]


def test_serve_exits_non_zero_when_nginx_dies(docker_client, image, trained_model_dir):
    with serving(docker_client, image, trained_model_dir) as server:
        server.container.exec_run(
            ["sh", "-c", "kill -9 $(cat /tmp/sklearn-byoc-serve-*/nginx.pid)"]
        )
        exit_code = server.container.wait(timeout=30)["StatusCode"]
    assert exit_code != 0


def test_front_proxy_off_serves_straight_from_gunicorn(
    docker_client, image, trained_model_dir
):
    with serving(
        docker_client,
        image,
        trained_model_dir,
        environment={"SKLEARN_BYOC_FRONT_PROXY": "off"},
    ) as server:
        response = requests.get(f"{server.url}/ping", timeout=2)
    assert response.status_code == 200
    assert response.headers["Server"].startswith("gunicorn")
