"""The pure invocations() core: formats × accepts × probabilities, columns, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container.contract import codecs, headers
from container.contract.bundle import library_versions, load_bundle, save_bundle
from container.contract.schema import Feature, Schema
from container.serving import inference
from container.serving.inference import InvocationOptions, invocations

PENGUIN_ROW = [39.1, 18.7, 181, 3750, "Torgersen", "male"]
PENGUIN_NAMES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island",
    "sex",
]
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
OPTIONS = InvocationOptions()


@pytest.fixture(scope="module")
def penguins_bundle(penguins_model_dir):
    return load_bundle(penguins_model_dir)


def build_iris_bundle(model_dir: Path) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris(as_frame=True)
    data = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    labels = iris.target.map(dict(enumerate(iris.target_names)))
    tree = DecisionTreeClassifier(random_state=0).fit(data, labels)
    schema = Schema(
        tuple(Feature(n, "numeric") for n in data.columns),
        "species",
        "classification",
        tuple(tree.classes_),
    )
    manifest = {"schema": schema.to_dict(), "libraries": library_versions()}
    save_bundle(model_dir, tree, manifest)
    return model_dir


@pytest.fixture(scope="module")
def iris_bundle(tmp_path_factory):
    return load_bundle(build_iris_bundle(tmp_path_factory.mktemp("iris")))


@pytest.fixture(scope="module")
def regression_bundle(tmp_path_factory):
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.0, 5.0, 7.0]})
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    schema = Schema((Feature("x", "numeric"),), "y", "regression")
    folder = tmp_path_factory.mktemp("regression")
    save_bundle(folder, model, {"schema": schema.to_dict()})
    return load_bundle(folder)


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def body_for(content_type: str, rows: list[list], names: list[str]) -> bytes:
    if content_type == codecs.CSV:
        return "".join(",".join(str(v) for v in r) + "\n" for r in rows).encode()
    if content_type == codecs.JSON:
        return json.dumps({"instances": rows}).encode()
    if content_type == codecs.JSONLINES:
        return "\n".join(
            json.dumps(dict(zip(names, r, strict=True))) for r in rows
        ).encode()
    return npy(np.array(rows, dtype=object).astype(str))


def parse(response: inference.Response) -> tuple[list, list | None]:
    """(predictions, probabilities as dicts or None) from any response format."""
    kind, body = response.content_type, response.body
    if kind == codecs.JSON:
        data = json.loads(body)
        return data["predictions"], data.get("probabilities")
    if kind == codecs.JSONLINES:
        lines = [json.loads(line) for line in body.decode().split("\n")]
        probabilities = [
            line["probabilities"] for line in lines if "probabilities" in line
        ]
        return [line["prediction"] for line in lines], probabilities or None
    if kind == codecs.CSV:
        rows = [line.split(",") for line in body.decode().split("\n")]
        return [r[0] for r in rows], [r[1:] for r in rows] if len(rows[0]) > 1 else None
    array = np.load(io.BytesIO(body), allow_pickle=False)
    if array.dtype.names:
        classes = array.dtype.names[1:]
        return array["prediction"].tolist(), [
            {c: float(row[c]) for c in classes} for row in array
        ]
    return array.tolist(), None


FORMATS = [codecs.CSV, codecs.JSON, codecs.JSONLINES, codecs.NPY]
ACCEPTS = [None, "*/*", codecs.CSV, codecs.JSON, codecs.JSONLINES, codecs.NPY]


@pytest.mark.parametrize("with_probabilities", [False, True])
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("content_type", FORMATS)
def test_every_format_accept_and_probability_option(
    penguins_bundle, content_type, accept, with_probabilities
):
    rows = [PENGUIN_ROW, [50.0, 15.0, 220, 5500, "Biscoe", "female"]]
    if with_probabilities:
        accept = (accept or "*/*") + "; probabilities=true"
    response = invocations(
        body_for(content_type, rows, PENGUIN_NAMES),
        content_type + "; charset=utf-8",
        accept,
        penguins_bundle,
        OPTIONS,
    )
    assert response.status == 200, response.body
    expected_type = codecs.media_type(accept) if accept else ""
    if expected_type in ("", "*/*"):
        expected_type = codecs.CSV if content_type == codecs.CSV else codecs.JSON
    assert response.content_type == expected_type
    predictions, probabilities = parse(response)
    assert predictions == ["Adelie", "Gentoo"]
    assert response.records == 2
    if with_probabilities:
        assert probabilities is not None and len(probabilities) == 2
        if isinstance(probabilities[0], dict):
            assert probabilities[0]["Adelie"] == 1.0
            assert set(probabilities[0]) == {"Adelie", "Chinstrap", "Gentoo"}
        else:  # CSV: one column per class, in the model's class order
            assert [float(p) for p in probabilities[0]] == [1.0, 0.0, 0.0]
    else:
        assert probabilities is None


def test_probabilities_from_custom_attributes_and_server_default(penguins_bundle):
    body = body_for(codecs.CSV, [PENGUIN_ROW], PENGUIN_NAMES)
    asked = invocations(
        body,
        codecs.CSV,
        codecs.JSON,
        penguins_bundle,
        OPTIONS,
        custom_attributes="trace=1, probabilities=true",
    )
    assert json.loads(asked.body)["probabilities"][0]["Adelie"] == 1.0
    default_on = InvocationOptions(return_probabilities=True)
    assert (
        b"probabilities"
        in invocations(body, codecs.CSV, codecs.JSON, penguins_bundle, default_on).body
    )
    refused = invocations(
        body,
        codecs.CSV,
        "application/json; probabilities=false",
        penguins_bundle,
        default_on,
    )
    assert b"probabilities" not in refused.body


def test_probabilities_on_a_regressor(regression_bundle):
    asked = invocations(
        b"2\n",
        codecs.CSV,
        "application/json;probabilities=true",
        regression_bundle,
        OPTIONS,
    )
    assert asked.status == 400 and b"regressor" in asked.body
    default_on = InvocationOptions(return_probabilities=True)
    plain = invocations(b"2\n", codecs.CSV, codecs.JSON, regression_bundle, default_on)
    assert json.loads(plain.body) == {"predictions": [pytest.approx(5.0)]}


def test_default_accept_setting_is_respected(penguins_bundle):
    options = InvocationOptions(default_accept="application/jsonlines")
    body = body_for(codecs.CSV, [PENGUIN_ROW], PENGUIN_NAMES)
    response = invocations(body, codecs.CSV, "*/*", penguins_bundle, options)
    assert response.content_type == codecs.JSONLINES
    assert json.loads(response.body) == {"prediction": "Adelie"}


def test_accept_q_values_pick_the_preferred_supported_type(penguins_bundle):
    body = body_for(codecs.CSV, [PENGUIN_ROW], PENGUIN_NAMES)
    accept = "text/html, application/json;q=0.5, text/csv;q=0.9"
    response = invocations(body, codecs.CSV, accept, penguins_bundle, OPTIONS)
    assert response.content_type == codecs.CSV


# --- columns --------------------------------------------------------------------------
def test_named_columns_are_reordered_and_extras_listed(penguins_bundle):
    header = ["zzz", *reversed(PENGUIN_NAMES)]
    row = ["ignored", *reversed(PENGUIN_ROW)]
    body = (",".join(header) + "\n" + ",".join(map(str, row))).encode()
    response = invocations(body, codecs.CSV, None, penguins_bundle, OPTIONS)
    assert response.status == 200 and response.body == b"Adelie"
    assert response.headers[headers.IGNORED_COLUMNS] == "zzz"


def test_missing_named_columns_are_rejected_by_name(penguins_bundle):
    body = json.dumps([{"bill_length_mm": 39.1, "island": "Dream"}]).encode()
    response = invocations(body, codecs.JSON, None, penguins_bundle, OPTIONS)
    assert response.status == 400
    message = json.loads(response.body)["error"]["message"]
    for name in ("bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"):
        assert name in message


def test_headerless_rows_need_the_feature_count(penguins_bundle):
    response = invocations(
        b"39.1,18.7,181\n", codecs.CSV, None, penguins_bundle, OPTIONS
    )
    assert response.status == 400
    assert b"needs 6" in response.body and b"bill_length_mm" in response.body


def test_numeric_strings_are_coerced_and_text_is_rejected(penguins_bundle):
    good = json.dumps([["39.1", " 18.7 ", "181", "3750", "Torgersen", "male"]]).encode()
    assert invocations(good, codecs.JSON, None, penguins_bundle, OPTIONS).status == 200
    bad = json.dumps([["thirty", 18.7, 181, 3750, "Torgersen", "male"]]).encode()
    response = invocations(bad, codecs.JSON, None, penguins_bundle, OPTIONS)
    assert response.status == 400
    assert b"bill_length_mm" in response.body and b"thirty" in response.body


def test_unknown_categories_and_missing_values_are_left_to_the_pipeline(
    penguins_bundle,
):
    body = b"39.1,,181,3750,Atlantis,\n"
    response = invocations(body, codecs.CSV, None, penguins_bundle, OPTIONS)
    assert response.status == 200 and response.records == 1


def test_numeric_categories_match_their_text(penguins_bundle):
    as_numbers = json.dumps([[39.1, 18.7, 181, 3750, 1, 2]]).encode()
    response = invocations(as_numbers, codecs.JSON, None, penguins_bundle, OPTIONS)
    assert response.status == 200


def test_infinite_values_are_rejected(iris_bundle, penguins_bundle):
    for bundle, body in (
        (iris_bundle, b"inf,1,1,1"),
        (penguins_bundle, b"inf,1,1,1,a,b"),
    ):
        response = invocations(body, codecs.CSV, None, bundle, OPTIONS)
        assert response.status == 400 and b"infinite" in response.body


# --- the all-numeric fast path gives the general path's answers -----------------------
def test_array_fast_path_is_used_only_when_safe(iris_bundle, penguins_bundle):
    assert inference.prepare(iris_bundle).array_model is not None
    assert inference.prepare(penguins_bundle).array_model is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.lists(st.floats(0, 10, allow_nan=False), min_size=4, max_size=4),
        min_size=1,
        max_size=20,
    )
)
def test_fast_and_general_paths_agree(iris_bundle, rows):
    csv_body = "".join(",".join(repr(v) for v in r) + "\n" for r in rows).encode()
    fast = invocations(csv_body, codecs.CSV, codecs.JSON, iris_bundle, OPTIONS)
    json_body = json.dumps(rows).encode()  # JSON never takes the CSV fast path
    general = invocations(json_body, codecs.JSON, codecs.JSON, iris_bundle, OPTIONS)
    frame = pd.DataFrame(rows, columns=iris_bundle.schema.feature_names)
    expected = iris_bundle.pipeline.predict(frame).tolist()
    assert json.loads(fast.body)["predictions"] == expected
    assert json.loads(general.body)["predictions"] == expected


# --- sizes ----------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", FORMATS)
def test_ten_thousand_rows_keep_order(iris_bundle, content_type):
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform(0.1, 7.0, size=(10_000, 4)), 2).tolist()
    names = iris_bundle.schema.feature_names
    if content_type == codecs.NPY:
        body = npy(np.array(rows))
    else:
        body = body_for(content_type, rows, names)
    response = invocations(body, content_type, codecs.CSV, iris_bundle, OPTIONS)
    assert response.status == 200, response.body[:300]
    expected = iris_bundle.pipeline.predict(pd.DataFrame(rows, columns=names)).tolist()
    assert response.body.decode().split("\n") == expected


# --- error codes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, content_type, accept, options, status, code",
    [
        (b"{", codecs.JSON, None, OPTIONS, 400, "invalid_input"),
        (b"1,2,3,4", codecs.CSV, "text/html", OPTIONS, 406, "unsupported_accept"),
        (
            b"1,2,3,4",
            codecs.CSV,
            None,
            InvocationOptions(max_payload_bytes=4),
            413,
            "payload_too_large",
        ),
        (b"1,2,3,4", "application/xml", None, OPTIONS, 415, "unsupported_content_type"),
        (b"1,2,3,4", None, None, OPTIONS, 415, "unsupported_content_type"),
        (
            b"1,2,3,4",
            codecs.CSV,
            "application/json; probabilities=maybe",
            OPTIONS,
            400,
            "invalid_input",
        ),
    ],
)
def test_error_codes(iris_bundle, body, content_type, accept, options, status, code):
    response = invocations(body, content_type, accept, iris_bundle, options)
    assert response.status == status
    assert response.content_type == "application/json"
    error = json.loads(response.body)["error"]
    assert error["code"] == code == response.error_code
    assert len(error["message"]) > 30


def test_no_model_is_503():
    response = invocations(b"1", codecs.CSV, None, None, OPTIONS)
    assert response.status == 503 and response.error_code == "model_not_ready"


def test_the_default_payload_limit_is_six_megabytes(iris_bundle):
    row = b"5.1,3.5,1.4,0.2\n"
    body = row * (6 * 1024 * 1024 // len(row) + 1)
    response = invocations(body, codecs.CSV, None, iris_bundle, OPTIONS)
    assert response.status == 413
    assert (
        invocations(
            body[: 6 * 1024 * 1024 - 16], codecs.CSV, None, iris_bundle, OPTIONS
        ).status
        == 200
    )


def test_a_bug_is_a_500_with_an_error_id_and_no_traceback(iris_bundle, capsys):
    class Broken:
        schema = iris_bundle.schema
        pipeline = None  # predict on None: an AttributeError, i.e. a bug

    response = invocations(b"1,2,3,4", codecs.CSV, None, Broken(), OPTIONS)
    assert response.status == 500 and response.error_id
    assert b"Traceback" not in response.body
    assert response.error_id.encode() in response.body
    assert response.error_id in capsys.readouterr().err


def test_canary_check(iris_bundle):
    assert inference.check_bundle(iris_bundle) is None

    class Refuses:
        schema = iris_bundle.schema

        class pipeline:  # noqa: N801 - a stand-in estimator
            @staticmethod
            def predict(features):
                raise ValueError("feature mismatch")

    assert "feature mismatch" in inference.check_bundle(Refuses())


# --- never an unexpected exception, whatever arrives ----------------------------------
content_types = st.one_of(
    st.sampled_from(
        [
            "text/csv",
            "application/json",
            "application/jsonlines",
            "application/x-npy",
            "text/csv; charset=utf-16",
            "",
            "*/*",
        ]
    ),
    st.text(max_size=30),
)
accepts = st.one_of(st.none(), st.sampled_from(ACCEPTS[1:]), st.text(max_size=30))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    content_type=content_types,
    accept=accepts,
    attributes=st.one_of(st.none(), st.text(max_size=40)),
)
def test_arbitrary_requests_never_crash(
    penguins_bundle, body, content_type, accept, attributes
):
    response = invocations(
        body,
        content_type,
        accept,
        penguins_bundle,
        OPTIONS,
        custom_attributes=attributes,
    )
    assert response.status in (200, 400, 406, 413, 415), response.body
    if response.status != 200:
        assert json.loads(response.body)["error"]["code"] == response.error_code


def test_any_object_with_pipeline_and_schema_serves(iris_bundle):
    from collections import namedtuple

    # Tuples take no weak references, so nothing is cached for them.
    Plain = namedtuple("Plain", "pipeline schema manifest")
    plain = Plain(iris_bundle.pipeline, iris_bundle.schema, {})
    response = invocations(b"5.1,3.5,1.4,0.2", codecs.CSV, None, plain, OPTIONS)
    assert (response.status, response.body) == (200, b"setosa")


csv_tokens = st.sampled_from(
    ["1", "2.5", "-0", "1e999", "nan", "NA", "", " 3 ", "x", "1_0", '"4"', "inf"]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.lists(csv_tokens, min_size=1, max_size=6), min_size=1, max_size=4),
    st.sampled_from(["\n", "\r\n"]),
)
def test_numeric_fast_path_never_crashes(iris_bundle, rows, newline):
    body = newline.join(",".join(r) for r in rows).encode()
    response = invocations(body, codecs.CSV, codecs.JSON, iris_bundle, OPTIONS)
    assert response.status in (200, 400), response.body
    if response.status == 200:
        assert response.records == len(json.loads(response.body)["predictions"])
