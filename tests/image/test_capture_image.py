"""Data capture on a disk that fills up, in the image: whole records or none, and
every dropped record counted."""

from __future__ import annotations

import json
import re
import time

import requests

from container.contract.capture_drops import SIDECAR_BYTES
from container.contract.headers import INFERENCE_ID
from tests.image.docker_helpers import PAYLOADS, serving

# `serve` in the background, so that after its SIGTERM the container (and its
# tmpfs, which docker cp cannot read) stays up to be looked at.
COMMAND = (
    "sh",
    "-c",
    "serve & echo $! > /tmp/serve.pid; wait $!; echo serve exited $?; sleep 300",
)
PYTHON = "/opt/venv/bin/python"
# Prints every file under /capture but the ballast, as JSON {path: text}.
DUMP = (
    "import json, pathlib; print(json.dumps({str(p): p.read_text() for p in "
    "pathlib.Path('/capture').rglob('*') if p.is_file() and p.name != 'ballast'}))"
)


def exec_ok(container, *command: str) -> str:
    code, output = container.exec_run(list(command))
    assert code == 0, output.decode(errors="replace")
    return output.decode()


def test_a_full_capture_disk_keeps_whole_records_and_counts_every_drop(
    docker_client, image, trained_model_dir
):
    rows = (PAYLOADS / "penguins.csv").read_bytes().splitlines()
    environment = {
        "SKLEARN_BYOC_CAPTURE_DESTINATION": "/capture",
        "SKLEARN_BYOC_ENDPOINT_NAME": "full-disk",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
    }
    with serving(
        docker_client,
        image,
        trained_model_dir,
        environment=environment,
        command=COMMAND,
        tmpfs={"/capture": "size=64k,mode=1777"},
    ) as server:
        container = server.container
        # Half the disk is taken: the capture files fill the rest.
        exec_ok(
            container, PYTHON, "-c", "open('/capture/ballast','wb').write(bytes(32768))"
        )

        def send(ids: list[str]) -> int:
            answered = 0
            for n, inference_id in enumerate(ids):
                response = requests.post(
                    f"{server.url}/invocations",
                    data=rows[n % len(rows)] + b"\n",
                    headers={"Content-Type": "text/csv", INFERENCE_ID: inference_id},
                    timeout=30,
                )
                answered += response.status_code == 200
            return answered

        full = [f"full-{n}" for n in range(150)]
        after = [f"after-{n}" for n in range(40)]
        answered = send(full)
        exec_ok(container, "rm", "/capture/ballast")  # space comes back
        answered += send(after)
        assert answered == len(full) + len(after)  # capture never fails a request

        exec_ok(container, "sh", "-c", "kill -TERM $(cat /tmp/serve.pid)")
        deadline = time.monotonic() + 30
        while b"serve exited" not in container.logs():
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.2)
        files = json.loads(exec_ok(container, PYTHON, "-c", DUMP))
        logs = container.logs().decode(errors="replace")

    captures = {p: t for p, t in files.items() if p.endswith(".jsonl")}
    sidecars = {p: t for p, t in files.items() if p.endswith(".drops.json")}
    assert set(files) == set(captures) | set(sidecars), sorted(files)
    assert len(captures) >= 2  # one per worker (more if a file was abandoned)

    ids = []
    for path, text in captures.items():
        assert text.endswith("\n"), f"{path} ends inside a record"
        for line in text.splitlines():
            record = json.loads(line)  # whole: none cut short, none glued
            ids.append(record["eventMetadata"]["inferenceId"])
    assert len(ids) == len(set(ids))
    assert set(after) <= set(ids)  # after space came back, nothing was lost

    for path, text in sidecars.items():
        assert len(text.encode()) == SIDECAR_BYTES, path
    dropped = sum(json.loads(t)["dropped_records"] for t in sidecars.values())
    assert dropped > 0, "the disk never filled up"
    assert len(ids) + dropped == answered

    # The workers' shutdown lines say the same. Only a worker that dropped
    # records says anything at exit, and which of the two met the full disk
    # is up to the scheduler: when one never did, its records are not in a
    # line, so the lines can only count fewer.
    closed = re.findall(
        r"data capture closed: (\d+) records written, (\d+) dropped", logs
    )
    assert 1 <= len(closed) <= 2, logs[-3000:]
    assert sum(int(d) for _, d in closed) == dropped, logs[-3000:]
    written = sum(int(w) for w, _ in closed)
    if len(closed) == 2:
        assert written == len(ids)
    else:
        assert written <= len(ids)
