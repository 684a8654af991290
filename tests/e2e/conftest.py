"""A private copy of the penguins project for end-to-end runs: its own state
folder, processed-data folder, endpoint name and a local webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from orchestration.config import REPO_ROOT


class WebhookReceiver(BaseHTTPRequestHandler):
    payloads: list[dict] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        WebhookReceiver.payloads.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    """An HTTP receiver on 127.0.0.1 only; yields (url, received payloads)."""
    WebhookReceiver.payloads = []
    server = HTTPServer(("127.0.0.1", 0), WebhookReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield (
        f"http://127.0.0.1:{server.server_address[1]}/alerts",
        WebhookReceiver.payloads,
    )
    server.shutdown()
    server.server_close()


def write_project(tmp_path: Path, image: str, webhook_url: str | None = None) -> Path:
    config = yaml.safe_load((REPO_ROOT / "config" / "penguins.yaml").read_text())
    config["image"] = image
    config["state_dir"] = str(tmp_path / "state")
    data = config["data"]
    for key in ("raw", "schema"):
        data[key] = str(REPO_ROOT / data[key])
    data["annotations"]["manifest"] = str(REPO_ROOT / data["annotations"]["manifest"])
    data["processed"] = str(tmp_path / "processed")
    config["endpoint"]["name"] = f"e2e-{tmp_path.name[-20:]}".replace("_", "-")
    if webhook_url:
        config["alerts"]["webhook_url"] = webhook_url
    path = tmp_path / "config" / "project.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(config))
    return path


def project_containers(docker_client, state_dir: Path) -> list[str]:
    label = f"sklearn-byoc.state={(state_dir / 'local').resolve()}"
    return [
        c.id for c in docker_client.containers.list(all=True, filters={"label": label})
    ]
