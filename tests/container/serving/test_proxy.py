"""The nginx configuration the front proxy is started with."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from container.contract.errors import SettingsError
from container.contract.settings import ServingSettings
from container.serving import proxy


def config(tmp_path, **overrides) -> proxy.ProxyConfig:
    values = {
        "port": 8080,
        "run_dir": str(tmp_path),
        "max_body_bytes": 6 * 1024 * 1024,
        "model_timeout_seconds": 60,
        "shutdown_timeout_seconds": 20,
    }
    return proxy.ProxyConfig(**{**values, **overrides})


def directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name} (.+);$", text, flags=re.MULTILINE)


def error_bodies(text: str) -> dict[str, tuple[int, dict]]:
    """location name -> (status, parsed JSON body) for every `return` in it."""
    found = re.findall(r"location @(\w+) \{[^}]*?return (\d+) '(.*?)';", text, re.S)
    return {
        name: (int(status), json.loads(body.replace("\\'", "'")))
        for name, status, body in found
    }


def test_listens_on_the_port_and_forwards_to_the_unix_socket(tmp_path):
    text = proxy.render(config(tmp_path, port=9123))
    assert directive(text, "listen")[0].startswith("9123 ")
    assert directive(text, "server") == [f"unix:{tmp_path}/model-server.sock"]
    assert directive(text, "proxy_pass") == ["http://model_server"]
    assert directive(text, "keepalive") == [str(proxy.UPSTREAM_KEEPALIVE)]
    assert directive(text, "proxy_request_buffering") == ["on"]
    # never replay a POST a worker may already have started on
    assert directive(text, "proxy_next_upstream") == ["off"]


def test_whole_bodies_up_to_the_payload_limit_stay_in_memory(tmp_path):
    limit = ServingSettings(batch=True, max_payload_mb=20).max_payload_bytes
    text = proxy.render(config(tmp_path, max_body_bytes=limit))
    assert directive(text, "client_max_body_size") == [str(limit)]
    assert directive(text, "client_body_buffer_size") == [str(limit)]


def test_slow_and_idle_connections_are_timed_out(tmp_path):
    text = proxy.render(config(tmp_path, model_timeout_seconds=120))
    for name in (
        "client_header_timeout",
        "client_body_timeout",
        "send_timeout",
        "keepalive_timeout",
    ):
        assert re.fullmatch(r"\d+s", directive(text, name)[0]), name
    assert directive(text, "client_header_timeout") == ["10s"]
    read = int(directive(text, "proxy_read_timeout")[0].rstrip("s"))
    assert read >= 120
    assert directive(text, "worker_shutdown_timeout") == ["20s"]


def test_every_path_nginx_writes_is_in_the_run_folder(tmp_path):
    text = proxy.render(config(tmp_path))
    assert directive(text, "pid") == [f"{tmp_path}/nginx.pid"]
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert directive(text, f"{name}_temp_path") == [f"{tmp_path}/{name}"]
    assert directive(text, "error_log")[0].startswith("stderr")
    assert directive(text, "access_log") == ["off"]
    assert directive(text, "daemon") == ["off"]


def test_the_user_line_only_when_asked(tmp_path):
    assert directive(proxy.render(config(tmp_path)), "user") == []
    assert directive(proxy.render(config(tmp_path, user="root")), "user") == ["root"]


def test_errors_nginx_answers_itself_are_json_in_the_servers_shape(tmp_path):
    text = proxy.render(config(tmp_path, max_body_bytes=6291456))
    bodies = error_bodies(text)
    assert set(bodies) == {
        "starting",
        "timed_out",
        "too_large",
        "request_timeout",
        "bad_request",
    }
    for _status, body in bodies.values():
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert bodies["starting"][0] == 503
    assert bodies["starting"][1]["error"]["code"] == "model_not_ready"
    status, body = bodies["too_large"]
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert "6291456 bytes (6 MB)" in body["error"]["message"]
    assert "error_page 502 = @starting;" in text
    assert "error_page 413 = @too_large;" in text


def test_json_error_escapes_for_nginx_and_refuses_variables():
    text = proxy.json_error("x", "it's a \\ test")
    assert text.startswith("'") and text.endswith("'")
    assert json.loads(text[1:-1].replace("\\'", "'").replace("\\\\", "\\"))
    with pytest.raises(ValueError):
        proxy.json_error("x", "costs $5")


def test_write_config_refuses_a_socket_path_too_long_to_bind(tmp_path):
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ValueError, match="TMPDIR"):
        proxy.write_config(config(tmp_path, run_dir=str(deep)))
    path = proxy.write_config(config(tmp_path))
    assert Path(path).read_text() == proxy.render(config(tmp_path))


@pytest.mark.parametrize(
    "raw, expected",
    [(None, None), ("auto", None), ("on", True), ("true", True), ("off", False)],
)
def test_front_proxy_setting(raw, expected):
    env = {} if raw is None else {"SKLEARN_BYOC_FRONT_PROXY": raw}
    assert ServingSettings.from_env(env).front_proxy is expected


def test_front_proxy_setting_refuses_other_words():
    with pytest.raises(SettingsError, match="SKLEARN_BYOC_FRONT_PROXY"):
        ServingSettings.from_env({"SKLEARN_BYOC_FRONT_PROXY": "maybe"})


def test_find_nginx_looks_on_path_then_in_debians_folder(tmp_path, monkeypatch):
    fake = tmp_path / "nginx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert proxy.find_nginx() == str(fake)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(proxy, "NGINX_FALLBACK_DIRS", str(tmp_path / "none"))
    assert proxy.find_nginx() is None
