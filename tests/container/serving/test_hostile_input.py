"""Bodies built to hurt: wide records, huge numbers, deep nesting, odd headers.

Each is answered with a 4xx that says what to send instead, and the work done
before refusing is bounded by the body, not by what the body claims to hold.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container.contract import codecs, headers
from container.contract.bundle import load_bundle
from container.serving.app import create_app

FEATURES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island",
    "sex",
]
ROW = ["39.1", "18.7", "181", "3750", "Torgersen", "male"]
LIMIT = codecs.field_limit(len(FEATURES))
HUGE = "9" * 400
PAYLOAD_LIMIT = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def bundle(penguins_model_dir):
    return load_bundle(penguins_model_dir)


@pytest.fixture(scope="module")
def client(bundle):
    return create_app(bundle).test_client()


def post(client, body, content_type="text/csv", **extra):
    data = body if isinstance(body, bytes) else body.encode()
    return client.post("/invocations", data=data, content_type=content_type, **extra)


def message(response) -> str:
    return response.get_json()["error"]["message"]


# --- width is bounded before the records are built -----------------------------------
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", (b"1," * (PAYLOAD_LIMIT // 2 - 1))[:-1]),
        ("text/csv", b'"a,b",' * 100_000),
        ("application/json", b"[[" + b"1," * (PAYLOAD_LIMIT // 2 - 4) + b"1]]"),
        ("application/jsonlines", b"[" + b"1," * 10_000 + b"1]"),
        (
            "application/json",
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": [str(i) for i in range(500)],
                        "data": [],
                    }
                }
            ).encode(),  # noqa: E501
        ),
        (
            "application/json",
            json.dumps({"inputs": {str(i): [1] for i in range(500)}}).encode(),
        ),  # noqa: E501
    ],
    ids=["csv-6MB-line", "csv-quoted", "json-6MB-row", "jsonlines", "split", "inputs"],
)
def test_a_record_wider_than_the_model_accepts_is_a_400_naming_the_limit(
    client, content_type, body
):
    response = post(client, body, content_type)
    assert response.status_code == 400, response.data[:300]
    assert f"more than the {LIMIT} this model accepts" in message(response)


def test_objects_that_each_name_few_keys_but_many_in_all_are_refused(client):
    # Each object is narrow; together they would make a frame of
    # 8,000 rows × 400,000 columns (tens of GB) if built.
    records = [{f"k{i}": 1 for i in range(j * 50, j * 50 + 50)} for j in range(8000)]
    response = post(client, json.dumps(records), "application/json")
    assert response.status_code == 400
    assert "the records name" in message(response)


def test_a_6mb_single_line_costs_at_most_a_few_times_its_size():
    body = (b"1," * (PAYLOAD_LIMIT // 2 - 1))[:-1]
    for content_type, payload in [
        ("text/csv", body),
        ("application/json", b"[[" + body + b"]]"),
    ]:
        tracemalloc.start()
        try:
            with pytest.raises(Exception) as refused:
                codecs.decode(payload, content_type, FEATURES, max_fields=LIMIT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "this model accepts" in refused.value.message
        # The text of the body, plus (JSON) the parsed list of 3 million
        # references: bounded by the body, never by the claimed width.
        assert peak < 8 * len(payload), (content_type, peak)


def test_extra_columns_within_the_margin_are_served_and_named(client):
    extras = [f"extra_{i}" for i in range(LIMIT - len(FEATURES))]
    body = ",".join(FEATURES + extras) + "\n" + ",".join(ROW + ["0"] * len(extras))
    response = post(client, body)
    assert response.status_code == 200, response.data[:300]
    assert response.headers[headers.IGNORED_COLUMNS].startswith("extra_0,extra_1")
    one_more = body.replace("\n", ",extra_x\n") + ",0"
    assert post(client, one_more).status_code == 400


# --- numbers too large for a float name where they are -------------------------------
@pytest.mark.parametrize(
    ("content_type", "body", "place"),
    [
        ("text/csv", f"39.1,18.7,181,{HUGE},Torgersen,male", "column 'body_mass_g'"),
        (
            "text/csv",
            ",".join(FEATURES)
            + f"\n39.1,18.7,181,3750,Biscoe,male\n1,{HUGE},1,1,Biscoe,male",  # noqa: E501
            "record 2, column 'bill_depth_mm'",
        ),
        (
            "application/json",
            json.dumps(
                {"instances": [[39.1, 18.7, int(HUGE), 3750, "Biscoe", "male"]]}
            ),
            "record 1, column 'flipper_length_mm'",
        ),
        (
            "application/jsonlines",
            '{"island": "Biscoe"}\n{"bill_length_mm": ' + HUGE + "}",
            "record 2, column 'bill_length_mm'",
        ),
    ],
)
def test_a_huge_number_is_a_400_naming_its_record_and_column(
    client, content_type, body, place
):
    response = post(client, body, content_type)
    assert response.status_code == 400, response.data[:300]
    assert place in message(response)
    assert "too large for a 64-bit float" in message(response)


# --- fuzz: structured bodies, never a 5xx --------------------------------------------
tokens = st.one_of(
    st.sampled_from(ROW + ["", "NA", "nan", "inf", "-inf", "1e400", HUGE, "-" + HUGE]),
    st.sampled_from(['"quoted, comma"', '"unterminated', "1_000", "0x10", " 7 "]),
    st.integers().map(str),
    st.floats(allow_nan=True).map(repr),
    st.text(max_size=8),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),  # noqa: E501
    max_leaves=12,
)


def csv_bodies() -> st.SearchStrategy[str]:
    width = st.one_of(st.just(len(FEATURES)), st.integers(0, LIMIT + 20))
    row = width.flatmap(lambda n: st.lists(tokens, min_size=n, max_size=n))
    header = st.one_of(
        st.none(),
        st.just(FEATURES),
        st.lists(st.sampled_from(FEATURES + ["x", ""]), max_size=10),
    )  # noqa: E501
    return st.tuples(header, st.lists(row, min_size=0, max_size=5)).map(
        lambda parts: "\n".join(
            ([",".join(parts[0])] if parts[0] is not None else [])
            + [",".join(r) for r in parts[1]]
        )
    )


def json_bodies() -> st.SearchStrategy[str]:
    records = st.one_of(
        st.lists(
            st.lists(json_values, min_size=len(FEATURES), max_size=len(FEATURES)),
            max_size=4,
        ),  # noqa: E501
        st.lists(
            st.dictionaries(st.sampled_from(FEATURES + ["x"]), json_values), max_size=4
        ),  # noqa: E501
        st.lists(json_values, max_size=LIMIT + 10),
    )
    envelope = st.sampled_from(["instances", "inputs", "dataframe_records", None])
    deep = st.integers(1, 5000).map(lambda n: "[" * n + "1" + "]" * n)
    return st.one_of(
        st.tuples(envelope, records).map(
            lambda p: json.dumps({p[0]: p[1]} if p[0] else p[1])
        ),
        st.builds(lambda d: '{"instances": ' + d + "}", deep),
        json_values.map(json.dumps),
    )


odd_types = st.sampled_from(
    [
        "text/csv",
        "text/csv; charset=latin-1",
        "TEXT/CSV;;;",
        "application/json",
        "application/json; probabilities=maybe",
        "application/jsonlines",
        "application/x-npy",
        "*/*",
        "",
    ]
)
odd_accepts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "*/*",
            "text/csv;q=0",
            "application/json; probabilities=true",
            "application/x-npy;probabilities=true, text/csv;q=0.5",
            "text/*;q=abc",
            "image/png",
            ",,,",
        ]
    ),
)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=st.one_of(csv_bodies(), json_bodies()),
    content_type=odd_types,
    accept=odd_accepts,
    attributes=st.one_of(
        st.none(), st.sampled_from(["probabilities=true", "probabilities=yes;x=1"])
    ),  # noqa: E501
)
def test_structured_hostile_bodies_never_get_a_5xx(
    client, body, content_type, accept, attributes
):
    extra = {}
    if accept is not None:
        extra["Accept"] = accept
    if attributes is not None:
        extra[headers.CUSTOM_ATTRIBUTES] = attributes
    response = post(client, body, content_type, headers=extra)
    assert response.status_code < 500, (body[:200], response.data[:300])
    if response.status_code >= 400:
        assert message(response)


def test_a_float_beyond_float32_range_is_a_400_for_a_tree(client):
    # Finite as a float64, infinite once a tree casts it to float32.
    response = post(client, "39.1,18.7,181,3.4028235677973366e+38,Biscoe,male")
    assert response.status_code == 400, response.data[:300]
    assert "too large for dtype('float32')" in message(response)


# --- compressed bodies and nested values ---------------------------------------------
RECORD = dict(zip(FEATURES, ROW, strict=True))


@pytest.mark.parametrize(
    ("content_type", "plain"),
    [
        ("text/csv", ",".join(ROW).encode()),
        ("application/json", json.dumps([ROW]).encode()),
        ("application/jsonlines", json.dumps(ROW).encode()),
    ],
)
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "corrupt"])
def test_a_gzip_body_is_a_400_saying_to_send_it_uncompressed(
    client, content_type, plain, cut
):
    import gzip

    body = gzip.compress(plain)
    body = body[: len(body) // 2] if cut else body
    response = post(client, body, content_type, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400, response.data[:300]
    assert "gzip" in message(response), message(response)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", [RECORD | {"island": ["a", "b"]}]),
        ("application/json", {"instances": [[*ROW[:5], {"sex": "male"}]]}),
        ("application/jsonlines", RECORD | {"sex": {"v": 1}}),
    ],
    ids=["records", "instances", "jsonlines"],
)
def test_a_nested_json_value_is_a_400_naming_the_column(client, content_type, body):
    response = post(client, json.dumps(body), content_type)
    assert response.status_code == 400, response.data[:300]
    assert "holds a list or object in column" in message(response)
