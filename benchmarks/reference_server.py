"""A reference model server built the way AWS's scikit_bring_your_own example is.

The serving benchmark runs this beside `python -m container.serving`, on the
same fitted pipeline and the same machine, so that "how much faster than the
usual hand-built stack" is a ratio measured in one run rather than a figure
quoted from elsewhere. The pieces follow the example's `serve`,
`nginx.conf`, `wsgi.py` and `predictor.py`:

- nginx (one worker process, `daemon off`) in front, passing /ping and
  /invocations to gunicorn over a unix socket, `client_max_body_size 5m`,
  `keepalive_timeout 5`, `proxy_read_timeout 1200s`, an access log;
- gunicorn with `-k sync`, workers = the CPU count, `--timeout 60`, bound to
  the unix socket, importing the app (no `--preload`);
- a Flask app that loads the model on first use; /ping answers 200 when it
  loads; /invocations reads the CSV body with
  ``pandas.read_csv(io.StringIO(body), header=None)``, predicts, and writes
  ``pandas.DataFrame(predictions).to_csv(header=False, index=False)``.

One change to the example: the frame's columns are set to the feature names
the pipeline was fitted with (`feature_names_in_`, else the bundle's schema),
because a pipeline with a ColumnTransformer selects its columns by name.

Everything is generated into a folder given by the caller; nginx listens on
127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

PREDICTOR = '''\
"""predictor.py, in the shape of AWS's scikit_bring_your_own example."""

import io
import json
import os

import flask
import joblib
import pandas as pd

model_path = os.environ["REFERENCE_MODEL_DIR"]


class ScoringService(object):
    model = None
    columns = None

    @classmethod
    def get_model(cls):
        """Get the model object for this instance, loading it if not loaded."""
        if cls.model is None:
            cls.model = joblib.load(os.path.join(model_path, "model.joblib"))
            names = getattr(cls.model, "feature_names_in_", None)
            if names is None:
                with open(os.path.join(model_path, "model.json")) as f:
                    manifest = json.load(f)
                names = [x["name"] for x in manifest["schema"]["features"]]
            cls.columns = list(names)
        return cls.model

    @classmethod
    def predict(cls, input):
        """For the input, do the predictions and return them."""
        clf = cls.get_model()
        input.columns = cls.columns
        return clf.predict(input)


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    health = ScoringService.get_model() is not None
    status = 200 if health else 404
    return flask.Response(response="\\n", status=status, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    data = None
    if flask.request.content_type == "text/csv":
        data = flask.request.data.decode("utf-8")
        s = io.StringIO(data)
        data = pd.read_csv(s, header=None)
    else:
        return flask.Response(
            response="This predictor only supports CSV data",
            status=415,
            mimetype="text/plain",
        )

    print("Invoked with {} records".format(data.shape[0]))

    predictions = ScoringService.predict(data)

    out = io.StringIO()
    pd.DataFrame(predictions).to_csv(out, header=False, index=False)
    result = out.getvalue()

    return flask.Response(response=result, status=200, mimetype="text/csv")
'''

WSGI = """\
import predictor as myapp

app = myapp.app
"""

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;

events {{
  # defaults
}}

http {{
  include {mime_types};
  default_type application/octet-stream;
  access_log {root}/nginx-access.log combined;
  client_body_temp_path {root}/nginx-body;
  proxy_temp_path {root}/nginx-proxy;

  upstream gunicorn {{
    server unix:{socket};
  }}

  server {{
    listen 127.0.0.1:{port} deferred;
    client_max_body_size 5m;

    keepalive_timeout 5;
    proxy_read_timeout 1200s;

    location ~ ^/(ping|invocations) {{
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Host $http_host;
      proxy_redirect off;
      proxy_pass http://gunicorn;
    }}

    location / {{
      return 404 "{{}}";
    }}
  }}
}}
"""


def _no_control_socket() -> list[str]:
    """Recent gunicorn releases open a control socket in the home folder by default;
    switched off so the reference shares nothing with other gunicorns."""
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return []
    names = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


def write_files(root: Path, port: int) -> Path:
    """predictor.py, wsgi.py and nginx.conf under root; returns nginx.conf."""
    root.mkdir(parents=True, exist_ok=True)
    # nginx's workers run as an unprivileged user when started as root: they
    # must reach the socket and write request bodies that spill to disk.
    for folder in (root, root / "nginx-body", root / "nginx-proxy"):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o777 if folder != root else 0o755)
    (root / "predictor.py").write_text(PREDICTOR)
    (root / "wsgi.py").write_text(WSGI)
    mime_types = Path("/etc/nginx/mime.types")
    conf = root / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            root=root,
            port=port,
            socket=root / "gunicorn.sock",
            mime_types=mime_types if mime_types.exists() else "mime.types",
        )
    )
    return conf


@dataclass
class ReferenceServer:
    """nginx + gunicorn (sync) + Flask + pandas, on one model folder."""

    model_dir: Path
    root: Path
    port: int
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout: int = 60
    nginx: subprocess.Popen | None = None
    gunicorn: subprocess.Popen | None = None

    def start(self, log: Path, ready) -> float:
        """Start both processes; returns seconds until the first 200 on /ping.

        `ready(port)` returns the status of one GET /ping (raising OSError
        while nothing answers).
        """
        conf = write_files(self.root, self.port)
        socket_path = self.root / "gunicorn.sock"
        socket_path.unlink(missing_ok=True)
        environ = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "REFERENCE_MODEL_DIR": str(self.model_dir),
        }
        started = time.perf_counter()
        with open(log, "ab") as out:
            # The example's `serve`: nginx first, then gunicorn.
            self.nginx = subprocess.Popen(
                ["nginx", "-c", str(conf), "-p", str(self.root), "-e", "stderr"],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
            )
            self.gunicorn = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--timeout",
                    str(self.timeout),
                    "-k",
                    "sync",
                    "-b",
                    f"unix:{socket_path}",
                    "-w",
                    str(self.workers),
                    "--chdir",
                    str(self.root),
                    *_no_control_socket(),
                    "wsgi:app",
                ],
                env=environ,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
            )
        while time.perf_counter() - started < 60:
            for process in (self.nginx, self.gunicorn):
                if process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"reference server exited early; see {log}")
            try:
                if ready(self.port) == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError("reference server did not answer /ping within 60 s")

    def stop(self) -> None:
        # The example's `serve` stops both on SIGTERM; nginx's fast shutdown
        # is SIGTERM too.
        for process in (self.gunicorn, self.nginx):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.gunicorn, self.nginx):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def root_pids(self) -> list[int]:
        return [p.pid for p in (self.nginx, self.gunicorn) if p is not None]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"
