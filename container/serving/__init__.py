"""`serve`: real-time endpoints and batch transform, on one model bundle.

- `inference`: the invocation core, request bytes in and response bytes out,
  no HTTP involved;
- `app`: the Flask app factory and its three routes;
- `capture`: data capture in SageMaker's JSON Lines layout;
- `workers`: how many requests are served at once;
- `server`: the launcher (bind early, load and check the model, gunicorn).

Run as ``python -m container.serving`` (the image's `serve` command).
"""


def main(argv: list[str] | None = None) -> int:
    """Start the model server (see `container.serving.server.main`)."""
    from container.serving.server import main as run_server

    return run_server(argv)
