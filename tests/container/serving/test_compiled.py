"""`serve` with the compiled predictor: same answers, and every way back."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from container.contract import codecs
from container.contract.bundle import COMPILED_FILE, library_versions, load_bundle
from container.contract.settings import COMPILED_PREDICTOR
from container.serving import compiled, inference
from container.serving.app import create_app
from container.serving.server import load_model
from tests.bundles import PENGUINS_CSV, train_bundle

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bundle-v1"
OPTIONS = inference.InvocationOptions()


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    """The default bundle of `train`: a random forest on the penguins species."""
    return train_bundle(tmp_path_factory.mktemp("trained"), {"target": "species"})


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory) -> Path:
    return train_bundle(
        tmp_path_factory.mktemp("trained_regression"),
        {"target": "body_mass_g", "algorithm": "gradient_boosting"},
    )


def without_compiled(bundle):
    """The same bundle as an older release wrote it: no compiled section."""
    manifest = {k: v for k, v in bundle.manifest.items() if k != "compiled"}
    return dataclasses.replace(bundle, manifest=manifest, compiled=None)


def request_rows(target: str = "species") -> pd.DataFrame:
    """Real rows, rows with missing values, and a category never seen."""
    frame = pd.read_csv(PENGUINS_CSV).drop(columns=target)
    rows = pd.concat([frame.iloc[::7], frame[frame.isna().any(axis=1)]])
    odd = frame.iloc[:2].copy()
    odd["island"] = "Atlantis"
    odd["bill_length_mm"] = np.nan
    return pd.concat([rows, odd]).reset_index(drop=True)


def body(rows: pd.DataFrame, content_type: str) -> bytes:
    if content_type == codecs.CSV:
        return rows.to_csv(index=False).encode()
    if content_type == codecs.JSON:
        return json.dumps({"instances": json.loads(rows.to_json(orient="records"))})
    return rows.to_json(orient="records", lines=True).encode()


def invoke(bundle, content_type, accept, *, probabilities=False, rows=None):
    rows = request_rows() if rows is None else rows
    payload = body(rows, content_type)
    if isinstance(payload, str):
        payload = payload.encode()
    attributes = "probabilities=true" if probabilities else None
    response = inference.invocations(
        payload, content_type, accept, bundle, OPTIONS, custom_attributes=attributes
    )
    assert response.status == 200, response.body
    return response


def test_the_trained_bundle_uses_the_compiled_model(trained_dir, capsys):
    bundle = load_bundle(trained_dir)

    assert bundle.compiled is not None
    assert bundle.manifest["compiled"]["status"] == "compiled"
    assert inference.prepare(bundle).compiled is not None
    assert "serve: predicting with the compiled model" in capsys.readouterr().err


FORMATS = [codecs.CSV, codecs.JSON, codecs.JSONLINES]


@pytest.mark.parametrize("accept", [codecs.CSV, codecs.JSON, codecs.JSONLINES])
@pytest.mark.parametrize("content_type", FORMATS)
def test_labels_are_byte_identical_with_and_without_it(
    trained_dir, content_type, accept
):
    bundle = load_bundle(trained_dir)
    plain = without_compiled(bundle)
    assert inference.prepare(plain).compiled is None

    fast = invoke(bundle, content_type, accept)
    slow = invoke(plain, content_type, accept)

    assert fast.body == slow.body
    assert fast.headers == slow.headers and fast.content_type == slow.content_type


@pytest.mark.parametrize("accept", [codecs.CSV, codecs.JSON, codecs.NPY])
def test_probabilities_agree_in_class_order(trained_dir, accept):
    bundle = load_bundle(trained_dir)
    plain = without_compiled(bundle)

    fast = invoke(bundle, codecs.CSV, accept, probabilities=True)
    slow = invoke(plain, codecs.CSV, accept, probabilities=True)

    assert fast.headers == slow.headers
    if accept == codecs.CSV:
        fast_rows = [line.split(",") for line in fast.body.decode().splitlines()]
        slow_rows = [line.split(",") for line in slow.body.decode().splitlines()]
        assert [r[0] for r in fast_rows] == [r[0] for r in slow_rows]
        difference = np.abs(
            np.array([r[1:] for r in fast_rows], dtype=float)
            - np.array([r[1:] for r in slow_rows], dtype=float)
        )
    elif accept == codecs.JSON:
        fast_data, slow_data = json.loads(fast.body), json.loads(slow.body)
        assert fast_data["predictions"] == slow_data["predictions"]
        assert [list(p) for p in fast_data["probabilities"]] == [
            list(p) for p in slow_data["probabilities"]
        ]
        difference = np.abs(
            np.array([list(p.values()) for p in fast_data["probabilities"]])
            - np.array([list(p.values()) for p in slow_data["probabilities"]])
        )
    else:
        import io

        fast_array = np.load(io.BytesIO(fast.body), allow_pickle=False)
        slow_array = np.load(io.BytesIO(slow.body), allow_pickle=False)
        assert fast_array.dtype == slow_array.dtype
        assert fast_array["prediction"].tolist() == slow_array["prediction"].tolist()
        names = fast_array.dtype.names[1:]
        difference = np.abs(
            np.array([fast_array[n] for n in names])
            - np.array([slow_array[n] for n in names])
        )
    assert difference.max() <= 1e-6


def test_regression_values_agree_within_the_parity_rule(regression_dir):
    bundle = load_bundle(regression_dir)
    assert inference.prepare(bundle).compiled is not None
    plain = without_compiled(bundle)

    rows = request_rows("body_mass_g")
    fast = json.loads(invoke(bundle, codecs.CSV, codecs.JSON, rows=rows).body)
    slow = json.loads(invoke(plain, codecs.CSV, codecs.JSON, rows=rows).body)

    np.testing.assert_allclose(fast["predictions"], slow["predictions"], rtol=1e-6)


def test_the_flask_app_answers_the_same(trained_dir):
    bundle = load_bundle(trained_dir)
    payload = request_rows().to_csv(index=False).encode()
    answers = []
    for served in (bundle, without_compiled(bundle)):
        client = create_app(served).test_client()
        response = client.post("/invocations", data=payload, content_type=codecs.CSV)
        assert response.status_code == 200
        answers.append(response.data)
    assert answers[0] == answers[1]


# --- falling back -------------------------------------------------------------------
def test_a_bundle_without_a_compiled_section_uses_scikit_learn(trained_dir, capsys):
    bundle = without_compiled(load_bundle(trained_dir))

    assert inference.prepare(bundle).compiled is None
    err = capsys.readouterr().err
    assert (
        "serve: predicting with scikit-learn: the bundle has no compiled model" in err
    )


def test_a_bundle_whose_parity_failed_uses_scikit_learn(trained_dir, capsys):
    bundle = load_bundle(trained_dir)
    record = {"status": "not compiled", "reason": "parity failed on the train rows"}
    bundle = dataclasses.replace(
        bundle, manifest={**bundle.manifest, "compiled": record}
    )

    assert inference.prepare(bundle).compiled is None
    assert "not compiled: parity failed" in capsys.readouterr().err
    invoke(bundle, codecs.CSV, codecs.CSV)


def test_a_missing_model_onnx_uses_scikit_learn(trained_dir, tmp_path, capsys):
    copy = shutil.copytree(trained_dir, tmp_path / "model")
    (copy / COMPILED_FILE).unlink()
    bundle = load_bundle(copy)

    assert inference.prepare(bundle).compiled is None
    assert f"{COMPILED_FILE} is missing" in capsys.readouterr().err


def test_a_corrupt_model_onnx_uses_scikit_learn_and_says_why(
    trained_dir, tmp_path, capsys
):
    copy = shutil.copytree(trained_dir, tmp_path / "model")
    (copy / COMPILED_FILE).write_bytes(b"this is not an ONNX model")

    bundle, load_error = load_model(copy)

    assert load_error is None
    assert inference.prepare(bundle).compiled is None
    err = capsys.readouterr().err
    assert (
        f"serve: predicting with scikit-learn: {COMPILED_FILE} is not the file" in err
    )
    assert err.count("serve: predicting with") == 1
    invoke(bundle, codecs.CSV, codecs.CSV)


def without_hash(bundle):
    """The bundle as the first compiling release wrote it: no SHA-256, no classes."""
    manifest = copy.deepcopy(bundle.manifest)
    for key in ("sha256", "classes", "classes_dtype"):
        manifest["compiled"].pop(key, None)
    return dataclasses.replace(bundle, manifest=manifest)


def test_without_a_recorded_hash_a_corrupt_model_onnx_fails_to_load(
    trained_dir, capsys
):
    bundle = without_hash(load_bundle(trained_dir))
    corrupt = dataclasses.replace(bundle, compiled=b"this is not an ONNX model")

    assert inference.prepare(corrupt).compiled is None
    assert f"{COMPILED_FILE} does not load" in capsys.readouterr().err


@pytest.mark.parametrize("recorded_hash", [True, False])
def test_a_model_onnx_of_another_model_is_refused(
    trained_dir, regression_dir, capsys, recorded_hash
):
    bundle = load_bundle(trained_dir)
    if not recorded_hash:
        bundle = without_hash(bundle)
    other = load_bundle(regression_dir).compiled
    swapped = dataclasses.replace(bundle, compiled=other)

    assert inference.prepare(swapped).compiled is None
    reason = "SHA-256 differs" if recorded_hash else "probe record"
    assert reason in capsys.readouterr().err


def test_serving_with_the_compiled_model_never_unpickles_the_pipeline(trained_dir):
    bundle, load_error = load_model(trained_dir)

    assert load_error is None
    invoke(bundle, codecs.CSV, codecs.JSON, probabilities=True)
    assert inference.prepare(bundle).compiled is not None
    assert not bundle.pipeline_loaded
    # A fallback still finds it.
    assert bundle.pipeline.classes_.tolist() == ["Adelie", "Chinstrap", "Gentoo"]


def test_the_setting_turns_it_off(trained_dir, monkeypatch, capsys):
    monkeypatch.setenv(COMPILED_PREDICTOR, "false")
    bundle = load_bundle(trained_dir)

    assert inference.prepare(bundle).compiled is None
    assert f"scikit-learn: {COMPILED_PREDICTOR}=false" in capsys.readouterr().err


def test_a_failure_while_predicting_falls_back_for_that_request(
    trained_dir, monkeypatch, capsys
):
    bundle = load_bundle(trained_dir)
    predictor = inference.prepare(bundle).compiled
    expected = invoke(without_compiled(bundle), codecs.CSV, codecs.CSV).body

    def broken(*args, **kwargs):
        raise RuntimeError("session lost")

    monkeypatch.setattr(predictor.model, "predict", broken)
    capsys.readouterr()
    assert invoke(bundle, codecs.CSV, codecs.CSV).body == expected
    assert invoke(bundle, codecs.CSV, codecs.CSV).body == expected
    err = capsys.readouterr().err
    assert err.count("the compiled model failed (RuntimeError: session lost)") == 1


def test_each_process_gets_its_own_single_threaded_session(trained_dir, monkeypatch):
    bundle = load_bundle(trained_dir)
    model = inference.prepare(bundle).compiled.model
    first = model.session()
    assert model.session() is first
    options = first.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1

    monkeypatch.setattr(compiled.os, "getpid", lambda: -1)
    monkeypatch.setattr("container.contract.compiled.os.getpid", lambda: -1)

    assert model.session() is not first


def test_a_bundle_of_the_first_release_still_serves(capsys):
    trained_with = json.loads((FIXTURE / "model.json").read_text())["libraries"]
    if trained_with["scikit-learn"] != library_versions().get("scikit-learn"):
        pytest.skip("the fixture's pickle needs its own scikit-learn release")
    bundle, load_error = load_model(FIXTURE)

    assert load_error is None and bundle.compiled is None
    assert inference.prepare(bundle).compiled is None
    assert "no compiled model" in capsys.readouterr().err
    rows = pd.read_csv(PENGUINS_CSV).drop(columns="species").head(3)
    response = invoke(bundle, codecs.CSV, codecs.JSON, rows=rows)
    assert json.loads(response.body)["predictions"] == ["Adelie"] * 3


def test_a_value_beyond_float32_gets_the_pipelines_400_not_an_answer(
    trained_dir, capsys
):
    # float32 graph inputs would turn it into infinity and answer; scikit-learn
    # refuses it (its trees cast to float32 too), and so must the server.
    bundle = load_bundle(trained_dir)
    row = request_rows().iloc[[0]].copy()
    row["body_mass_g"] = 3.5e38
    for candidate in (bundle, without_compiled(bundle)):
        response = inference.invocations(
            body(row, codecs.CSV), codecs.CSV, codecs.JSON, candidate, OPTIONS
        )
        assert response.status == 400, response.body
        assert b"too large for dtype('float32')" in response.body
    assert "the compiled model failed" not in capsys.readouterr().err
