"""Reading predictions from captured outputs and labels from ground-truth
records, and merging them: the edge cases."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from container.contract import codecs
from container.monitoring.capture_reader import Payload, record_id
from container.monitoring.ground_truth import (
    GroundTruthScan,
    decode_label_data,
    ground_truth_files,
    read_labels,
)
from container.monitoring.quality_merge import merge, parse_output
from container.monitoring.quality_metrics import label_text
from container.monitoring.quality_settings import QualitySettings
from tests.container.monitoring.quality_helpers import label_record, write_lines


def settings(problem="BinaryClassification", **attributes) -> QualitySettings:
    values = {
        "inference_attribute": None,
        "probability_attribute": None,
        "probability_threshold": 0.5,
        "ground_truth_attribute": None,
        "ground_truth_source": None,
    }
    values.update(attributes)
    return QualitySettings(problem_type=problem, **values)


def payload(data, content_type="text/csv", encoding=None) -> Payload:
    if isinstance(data, bytes):
        data = data.decode()
    kind = encoding or ("JSON" if "json" in content_type else "CSV")
    return Payload(content_type, kind, data)


def server(accept, predictions, probabilities=None, classes=None) -> Payload:
    body = codecs.encode(
        np.asarray(predictions),
        accept,
        probabilities=None if probabilities is None else np.asarray(probabilities),
        classes=classes,
    )
    return payload(body, accept)


@pytest.mark.parametrize(
    "accept", ["application/json", "text/csv", "application/jsonlines"]
)
def test_the_servers_outputs_give_predictions_and_positive_probabilities(accept):
    out = server(accept, [1, 0], [[0.2, 0.8], [0.9, 0.1]], classes=[0, 1])
    rows = parse_output(out, settings())
    assert [(label_text(p), float(s)) for p, s in rows] == [("1", 0.8), ("0", 0.1)]


@pytest.mark.parametrize(
    "accept", ["application/json", "text/csv", "application/jsonlines"]
)
def test_the_servers_outputs_without_probabilities(accept):
    out = server(accept, ["Adelie", "Gentoo"])
    rows = parse_output(out, settings("MulticlassClassification"))
    assert [p for p, _ in rows] == ["Adelie", "Gentoo"]


def test_sagemaker_plain_csv_and_builtin_json():
    assert parse_output(payload("1"), settings()) == [("1", None)]
    builtin = payload(
        '{"predictions": [{"predicted_label": 1, "score": 0.7}]}', "application/json"
    )  # noqa: E501
    assert parse_output(builtin, settings()) == [(1, 0.7)]


def test_attributes_pick_fields_and_paths():
    csv = payload("0.91,1")
    assert parse_output(
        csv, settings(inference_attribute="1", probability_attribute="0")
    ) == [("1", "0.91")]
    # A bare probability, thresholded later.
    assert parse_output(payload("0.91"), settings(probability_attribute="0")) == [
        (None, "0.91")
    ]
    nested = payload('{"output": {"label": "yes", "p": 0.6}}', "application/json")
    assert parse_output(
        nested,
        settings(inference_attribute="output.label", probability_attribute="output.p"),
    ) == [("yes", 0.6)]


def test_a_missing_attribute_is_an_undecodable_output():
    out = payload('{"predictions": [{"x": 1}]}', "application/json")
    with pytest.raises(ValueError, match="inference_attribute 'label'"):
        parse_output(out, settings(inference_attribute="label"))


def record(event_id, output, inference_id=None):
    """A captured record as the merge reads it: its id and its output."""
    meta = {"eventId": event_id}
    if inference_id:
        meta["inferenceId"] = inference_id
    return record_id({"eventMetadata": meta}), output


def test_merge_on_inference_id_else_event_id_and_count_the_rest():
    captures = [
        record("e1", payload("1"), inference_id="i1"),
        record("e2", payload("0")),
        record("e3", payload("1")),  # no label yet
        record("e4", None),  # output not captured
        record("e5", payload("1\n0")),  # a request of two records, one label
    ]
    labels = {"i1": ["1"], "e2": ["1"], "e4": ["0"], "e5": ["1"], "other": ["0"]}
    pairs, counts = merge(captures, labels, settings())
    assert (pairs.truth, pairs.predicted) == (["1", "1"], ["1", "0"])
    assert counts.captured == 5 and counts.merged_records == 2
    assert counts.captured_without_label == 1
    assert counts.without_output == 1 and counts.count_mismatches == 1
    assert counts.labels_without_capture == 1  # "other"
    # The capture's eventId is not used when it has an inferenceId.
    pairs, counts = merge([record("e1", payload("1"), "i1")], {"e1": ["1"]}, settings())
    assert counts.merged_records == 0 and counts.captured_without_label == 1


def test_a_request_of_several_records_meets_as_many_labels():
    out = server("text/csv", [1, 0, 1])
    pairs, counts = merge([record("e", out)], {"e": ["1", "1", "1"]}, settings())
    assert pairs.predicted == ["1", "0", "1"] and counts.merged_rows == 3


def test_probability_only_outputs_are_thresholded():
    captures = [record("a", payload("0.7")), record("b", payload("0.2"))]
    pairs, _ = merge(
        captures,
        {"a": ["1"], "b": ["1"]},
        settings(probability_attribute="0", probability_threshold=0.25),
    )
    assert pairs.predicted == ["1", "0"] and pairs.scores == [0.7, 0.2]


@pytest.mark.parametrize(
    ("data", "encoding", "attribute", "expected"),
    [
        ("1", "CSV", None, ["1"]),
        ("1\n0", "CSV", None, ["1", "0"]),
        ("7,cat", "CSV", "1", ["cat"]),
        ("1", "JSON", None, [1]),
        ('{"label": "Adelie"}', "JSON", None, ["Adelie"]),
        ('{"species": "Adelie", "n": 3}', "JSON", "species", ["Adelie"]),
        ("[1, 0]", "JSON", None, [1, 0]),
        (base64.b64encode(b"1").decode(), "BASE64", None, ["1"]),
        (base64.b64encode(b'{"label": 0}').decode(), "BASE64", None, [0]),
    ],
)
def test_ground_truth_encodings(data, encoding, attribute, expected):
    assert decode_label_data(data, encoding, attribute) == expected


def test_label_folders_from_the_window_start_up_to_now(tmp_path):
    for hour in ("2026/04/17/23", "2026/04/18/00", "2026/04/18/07", "2026/04/19/00"):
        write_lines(tmp_path / hour, [label_record(hour, 1)])
    write_lines(tmp_path, [label_record("flat", 1)], name="extra.jsonl")
    scan = GroundTruthScan()
    files = ground_truth_files(
        tmp_path,
        datetime(2026, 4, 18, tzinfo=UTC),
        datetime(2026, 4, 18, 12, tzinfo=UTC),
        scan,
    )
    labels = read_labels(files, scan)
    # Before the window's start (collected before any inference) and the
    # future are skipped; later hours and files outside hour folders are read.
    assert set(labels) == {"2026/04/18/00", "2026/04/18/07", "flat"}
    assert scan.skipped_folders == 2


def test_the_label_collected_last_wins_and_bad_lines_are_counted(tmp_path):
    write_lines(
        tmp_path / "2026/04/18/09",
        [label_record("e", 1), "not json", '{"groundTruthData": {"data": "1"}}'],
        name="b.jsonl",
    )
    write_lines(tmp_path / "2026/04/18/09", [label_record("e", 5)], name="a.jsonl")
    write_lines(tmp_path / "2026/04/18/02", [label_record("e", 0)])
    scan = GroundTruthScan()
    files = ground_truth_files(tmp_path, None, datetime.now(UTC), scan)
    labels = read_labels(files, scan)
    assert labels == {"e": ("1",)}  # hour 09 beats 02; b.jsonl comes after a.jsonl
    assert scan.duplicated == 2 and scan.malformed == 2
    assert json.dumps(scan.to_dict())


def test_fields_beyond_the_csv_limit_are_counted_not_fatal(tmp_path):
    # One quoted field longer than csv's 131,072-character limit.
    huge = '"' + "x" * 200_000 + '",1'
    write_lines(
        tmp_path,
        [
            json.dumps(
                {
                    "groundTruthData": {"data": huge, "encoding": "CSV"},
                    "eventMetadata": {"eventId": "big"},
                }
            ),
            label_record("fine", 1),
        ],
    )
    scan = GroundTruthScan()
    labels = read_labels(
        ground_truth_files(tmp_path, None, datetime.now(UTC), scan), scan
    )
    assert labels == {"fine": ("1",)}
    assert scan.malformed == 1 and "does not parse" in scan.examples[0]
    pairs, counts = merge(
        [record("e", payload(huge)), record("f", payload("1"))],
        {"e": ["1"], "f": ["1"]},
        settings(),
    )
    assert counts.undecodable_outputs == 1 and counts.merged_rows == 1


@pytest.mark.parametrize(
    "output",
    ["1,0.2,0.8", "1,0.2,0.8\n0,0.9,0.1", '"1",0.2,0.8', "1,0.2,0.8\r\n0,0.6,0.4"],
)
def test_the_fast_csv_split_agrees_with_the_csv_reader(output):
    import csv
    import io

    expected = [
        (fields[0], [float(x) for x in fields[1:]])
        for fields in csv.reader(io.StringIO(output))
        if fields
    ]
    assert parse_output(payload(output), settings()) == [
        (guess, p[-1]) for guess, p in expected
    ]
