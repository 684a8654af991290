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


def test_ab_and_shadow_variants_share_traffic_capture_apart_and_promote(
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
    backend.deploy_variant(
        "ep-ab",
        VariantSpec("S", "m-s", str(model_tarball), image, weight=2.0, shadow=True),
    )
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
    with pytest.raises(BackendError, match="'S' is not a production variant"):
        backend.invoke_endpoint(
            "ep-ab", ROW, "text/csv", "text/csv", target_variant="S"
        )

    time.sleep(2)  # the front writes its counts once a second
    traffic = {v.variant_name: v.traffic for v in backend.describe_variants("ep-ab")}
    served = traffic["AllTraffic"]["requests"] + traffic["B"]["requests"]
    assert (
        served == 61
        and min(traffic["AllTraffic"]["requests"], traffic["B"]["requests"]) > 10
    )
    # Weight 2 against the production variants' 2: a copy of every request
    # drawn by weight (the targeted one is not copied).
    assert traffic["S"]["requests"] == 60
    assert traffic["B"]["latency_p99_ms"] >= traffic["B"]["latency_p50_ms"] > 0
    # Each variant captures under its own name, in SageMaker's layout.
    folders = {p.name for p in (capture / "ep-ab").iterdir()}
    assert folders == {"AllTraffic", "B", "S"}

    backend.set_variant_weights("ep-ab", {"AllTraffic": 0.0})
    before = backend.describe_variants("ep-ab")
    for _ in range(10):
        backend.invoke_endpoint("ep-ab", ROW, "text/csv", "text/csv")
    time.sleep(2)
    after = {
        v.variant_name: v.traffic["requests"]
        for v in backend.describe_variants("ep-ab")
    }
    was = {v.variant_name: v.traffic["requests"] for v in before}
    assert after["AllTraffic"] == was["AllTraffic"] and after["B"] == was["B"] + 10

    with pytest.raises(BackendError, match="no production variant left"):
        backend.remove_variants("ep-ab", ["AllTraffic", "B"])
    with pytest.raises(BackendError, match="has no variant 'C'"):
        backend.set_variant_weights("ep-ab", {"C": 1.0})
    left = backend.remove_variants("ep-ab", ["AllTraffic"])
    assert [v.variant_name for v in left] == ["B", "S"]
    assert (
        backend.invoke_endpoint("ep-ab", ROW, "text/csv", "text/csv").strip()
        == b"Gentoo"
    )

    pid = json.loads((backend.variants.folder("ep-ab") / "front.json").read_text())[
        "pid"
    ]
    backend.delete_endpoint("ep-ab")
    assert not _alive(pid)  # the front went with the endpoint


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
