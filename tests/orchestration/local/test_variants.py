"""Production and shadow variants of a local endpoint: the real image, the front."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections import Counter

import pytest

from orchestration.backends.base import (
    BackendError,
    CaptureSpec,
    EndpointSpec,
    UpdateRolledBack,
    VariantSpec,
)
from orchestration.local import variants as local_variants

ROW = b"Biscoe,49.5,16.2,229,5800,male\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process is gone for every purpose
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def traffic_once(backend, endpoint, done) -> dict[str, dict]:
    """Each variant's traffic once `done(traffic)` holds (the front writes its
    counts once a second), or as it is after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        traffic = {
            v.variant_name: v.traffic for v in backend.describe_variants(endpoint)
        }
        if done(traffic) or time.monotonic() > deadline:
            return traffic
        time.sleep(0.2)


def requests(traffic, name) -> int:
    return (traffic.get(name) or {}).get("requests", 0)


def test_ab_variants_share_traffic_capture_apart_and_move_by_weight(
    backend, model_tarball, tmp_path, image
):
    capture = tmp_path / "capture"
    backend.create_endpoint(
        EndpointSpec(
            "ep-ab", "m-a", str(model_tarball), image, capture=CaptureSpec(str(capture))
        )
    )
    shown = backend.deploy_variant(
        "ep-ab", VariantSpec("B", "m-b", str(model_tarball), image, weight=1.0)
    )
    assert [(v.variant_name, v.weight, v.status) for v in shown] == [
        ("AllTraffic", 1.0, "InService"),
        ("B", 1.0, "InService"),
    ]
    answers = Counter(
        backend.invoke_endpoint("ep-ab", ROW, "text/csv", "text/csv").strip()
        for _ in range(60)
    )
    assert answers == Counter({b"Gentoo": 60})
    assert (
        backend.invoke_endpoint(
            "ep-ab", ROW, "text/csv", "text/csv", target_variant="B"
        ).strip()
        == b"Gentoo"
    )
    traffic = traffic_once(
        backend, "ep-ab", lambda t: requests(t, "AllTraffic") + requests(t, "B") == 61
    )
    assert requests(traffic, "AllTraffic") + requests(traffic, "B") == 61
    assert min(requests(traffic, "AllTraffic"), requests(traffic, "B")) > 10
    assert traffic["B"]["latency_p99_ms"] >= traffic["B"]["latency_p50_ms"] > 0
    # Each variant captures under its own name, in SageMaker's layout.
    assert {p.name for p in (capture / "ep-ab").iterdir()} == {"AllTraffic", "B"}

    backend.set_variant_weights("ep-ab", {"AllTraffic": 0.0})
    for _ in range(10):
        backend.invoke_endpoint("ep-ab", ROW, "text/csv", "text/csv")
    after = traffic_once(
        backend, "ep-ab", lambda t: requests(t, "B") >= requests(traffic, "B") + 10
    )
    assert requests(after, "AllTraffic") == requests(traffic, "AllTraffic")
    assert requests(after, "B") == requests(traffic, "B") + 10

    with pytest.raises(BackendError, match="no production variant left"):
        backend.remove_variants("ep-ab", ["AllTraffic", "B"])
    with pytest.raises(BackendError, match="has no variant 'C'"):
        backend.set_variant_weights("ep-ab", {"C": 1.0})
    with pytest.raises(BackendError, match="beside exactly one production variant"):
        backend.deploy_variant(
            "ep-ab", VariantSpec("S", "m-s", str(model_tarball), image, shadow=True)
        )
    left = backend.remove_variants("ep-ab", ["AllTraffic"])
    assert [v.variant_name for v in left] == ["B"]
    pid = json.loads((backend.variants.folder("ep-ab") / "front.json").read_text())[
        "pid"
    ]
    backend.delete_endpoint("ep-ab")
    assert not _alive(pid)  # the front went with the endpoint


def test_a_shadow_gets_a_copy_of_live_traffic_and_answers_no_client(
    backend, model_tarball, tmp_path, image
):
    capture = tmp_path / "capture"
    backend.create_endpoint(
        EndpointSpec(
            "ep-sh", "m-a", str(model_tarball), image, capture=CaptureSpec(str(capture))
        )
    )
    backend.deploy_variant(
        "ep-sh", VariantSpec("S", "m-s", str(model_tarball), image, shadow=True)
    )
    for _ in range(30):
        answer = backend.invoke_endpoint("ep-sh", ROW, "text/csv", "text/csv")
        assert answer.strip() == b"Gentoo"
    with pytest.raises(BackendError, match="'S' is not a production variant"):
        backend.invoke_endpoint(
            "ep-sh", ROW, "text/csv", "text/csv", target_variant="S"
        )
    # Weight 1 against the production variant's 1: a copy of every request.
    traffic = traffic_once(backend, "ep-sh", lambda t: requests(t, "S") >= 30)
    assert (requests(traffic, "AllTraffic"), requests(traffic, "S")) == (30, 30)
    assert {p.name for p in (capture / "ep-sh").iterdir()} == {"AllTraffic", "S"}
    with pytest.raises(BackendError, match="running a shadow test"):
        backend.deploy_variant(
            "ep-sh", VariantSpec("B", "m-b", str(model_tarball), image)
        )


def test_a_variant_that_cannot_serve_leaves_the_endpoint_as_it_was(
    backend, model_tarball, tmp_path, image
):
    backend.create_endpoint(EndpointSpec("ep-bad", "m-a", str(model_tarball), image))
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as tar:
        data = b"not a model"
        info = tarfile.TarInfo("model.joblib")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    backend.endpoints.startup_timeout = 10
    with pytest.raises(UpdateRolledBack, match="did not come up"):
        backend.deploy_variant("ep-bad", VariantSpec("B", "m-b", str(broken), image))
    (only,) = backend.describe_variants("ep-bad")
    assert only.variant_name == "AllTraffic"
    assert (
        backend.invoke_endpoint("ep-bad", ROW, "text/csv", "text/csv").strip()
        == b"Gentoo"
    )
    assert not (backend.variants.folder("ep-bad") / local_variants.FRONT_FILE).exists()


def test_a_whole_update_replaces_every_variant(backend, model_tarball, image):
    backend.create_endpoint(EndpointSpec("ep-up", "m-a", str(model_tarball), image))
    backend.deploy_variant("ep-up", VariantSpec("B", "m-b", str(model_tarball), image))
    folder = backend.variants.folder("ep-up")
    pid = json.loads((folder / "front.json").read_text())["pid"]
    backend.update_endpoint(EndpointSpec("ep-up", "m-c", str(model_tarball), image))
    (only,) = backend.describe_variants("ep-up")
    assert only.variant_name == "AllTraffic" and only.model_name == "m-c"
    assert not _alive(pid) and not (folder / "variants.json").exists()
    assert (
        backend.invoke_endpoint("ep-up", ROW, "text/csv", "text/csv").strip()
        == b"Gentoo"
    )
