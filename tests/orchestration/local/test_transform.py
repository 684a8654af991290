"""Batch transform over a fake container: requests, outputs and failures."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from orchestration.local.transform import (
    TransformJobFailed,
    TransformSettings,
    TransformSettingsError,
    container_environment,
    run_transform,
)

MB = 1024 * 1024


class FakeServer:
    """Answers one output line per input line (the line's first column, doubled)."""

    def __init__(self, delay: float = 0.0, fail_on: bytes | None = None, status=400):
        self.bodies: list[bytes] = []
        self.headers: list[tuple[str, str]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.status = status
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, body: bytes, content_type: str, accept: str):
        with self._lock:
            self.bodies.append(body)
            self.headers.append((content_type, accept))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            # Later requests answer sooner, so order comes from the job, not luck.
            time.sleep(self.delay / (1 + len(self.bodies) % 3))
            if self.fail_on is not None and self.fail_on in body:
                return self.status, b'{"error": "bad_request"}'
            lines = [line for line in body.split(b"\n") if line]
            out = [str(2 * float(line.split(b",")[0])).encode() for line in lines]
            return 200, b"\n".join(out) + b"\n"
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def requests(self) -> int:
        return len(self.bodies)


def write_csv(path: Path, rows: int, width: int = 0) -> Path:
    pad = "," + "x" * width if width else ""
    path.write_text("".join(f"{i}{pad}\n" for i in range(rows)))
    return path


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    return folder


def test_single_record_sends_one_request_per_line(data, tmp_path):
    server = FakeServer()
    source = write_csv(data / "a.csv", 5)
    settings = TransformSettings(batch_strategy="SingleRecord")
    result = run_transform([source], server, settings, tmp_path / "out")
    assert server.requests == 5
    assert server.bodies[0] == b"0\n"
    assert result.records == 5 and result.requests == 5
    assert (tmp_path / "out" / "a.csv.out").read_text() == "".join(
        f"{2.0 * i}\n" for i in range(5)
    )
    assert server.headers[0] == ("text/csv", "text/csv")


def test_multi_record_packs_lines_up_to_the_payload_limit(data, tmp_path):
    server = FakeServer()
    # Each line is about 100 kB: 1 MB holds 10 of them, not 11.
    source = write_csv(data / "a.csv", 25, width=100_000)
    settings = TransformSettings(batch_strategy="MultiRecord", max_payload_in_mb=1)
    result = run_transform([source], server, settings, tmp_path / "out")
    assert [body.count(b"\n") for body in server.bodies] == [10, 10, 5]
    assert all(len(body) <= MB for body in server.bodies)
    assert b"".join(server.bodies) == source.read_bytes()
    assert result.requests == 3 and result.records == 25
    lines = (tmp_path / "out" / "a.csv.out").read_text().splitlines()
    assert lines == [str(2.0 * i) for i in range(25)]


def test_a_line_over_max_payload_fails_clearly(data, tmp_path):
    source = data / "big.csv"
    source.write_text("1\n" + "2," + "x" * (MB + 10) + "\n3\n")
    settings = TransformSettings(batch_strategy="MultiRecord", max_payload_in_mb=1)
    with pytest.raises(TransformJobFailed) as failed:
        run_transform([source], FakeServer(), settings, tmp_path / "out")
    reason = failed.value.failure_reason
    assert "line 2 of big.csv" in reason and "MaxPayloadInMB=1" in reason
    assert not list((tmp_path / "out").iterdir())


def test_split_none_sends_the_whole_file_once(data, tmp_path):
    server = FakeServer()
    source = write_csv(data / "a.csv", 4)
    settings = TransformSettings(split_type="None", batch_strategy="SingleRecord")
    run_transform([source], server, settings, tmp_path / "out")
    assert server.bodies == [source.read_bytes()]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_stay_within_max_concurrent_transforms(
    data, tmp_path, concurrency
):
    server = FakeServer(delay=0.02)
    source = write_csv(data / "a.csv", 12)
    settings = TransformSettings(
        batch_strategy="SingleRecord", max_concurrent_transforms=concurrency
    )
    run_transform([source], server, settings, tmp_path / "out")
    assert server.requests == 12
    assert server.most_in_flight <= concurrency
    if concurrency > 1:
        assert server.most_in_flight > 1  # they did overlap


def test_output_order_is_input_order_with_assemble_with_line(data, tmp_path):
    server = FakeServer(delay=0.01)
    sources = [write_csv(data / f"{name}.csv", 20) for name in ("a", "b")]
    settings = TransformSettings(
        batch_strategy="MultiRecord",
        max_concurrent_transforms=4,
        assemble_with="Line",
    )
    # A 6-byte limit packs two or three lines into each request.
    settings = _with_limit(settings, 6)
    result = run_transform(sources, server, settings, tmp_path / "out")
    assert server.requests > 4
    assert [p.name for p in result.outputs] == ["a.csv.out", "b.csv.out"]
    for output in result.outputs:
        assert output.read_text().splitlines() == [str(2.0 * i) for i in range(20)]


def _with_limit(settings: TransformSettings, limit: int) -> TransformSettings:
    """The settings with a payload limit in bytes, for requests of a few lines."""

    class Limited(TransformSettings):
        @property
        def max_payload_bytes(self) -> int:
            return limit

    return Limited(**settings.__dict__)


def test_assemble_with_none_concatenates_answers(data, tmp_path):
    source = write_csv(data / "a.csv", 3)
    settings = TransformSettings(batch_strategy="SingleRecord", assemble_with="None")

    def no_newline(body, content_type, accept):
        return 200, body.strip() + b";"

    run_transform([source], no_newline, settings, tmp_path / "out")
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == b"0;1;2;"


def test_a_client_error_fails_the_job_naming_file_and_lines(data, tmp_path):
    good = write_csv(data / "good.csv", 3)
    bad = data / "bad.csv"
    bad.write_text("1\n2\n\n3\nbroken\n5\n")
    server = FakeServer(fail_on=b"broken")
    settings = TransformSettings(
        batch_strategy="MultiRecord", max_concurrent_transforms=2
    )
    settings = _with_limit(settings, 8)
    out = tmp_path / "out"
    with pytest.raises(TransformJobFailed) as failed:
        run_transform([good, bad], server, settings, out)
    reason = failed.value.failure_reason
    assert "400" in reason and "bad.csv line 5:" in reason
    assert "bad_request" in reason
    # The completed input keeps its output; the failed one leaves nothing.
    assert sorted(p.name for p in out.iterdir()) == ["good.csv.out"]
    assert failed.value.outputs == [out / "good.csv.out"]


def test_no_answer_fails_the_job(data, tmp_path):
    source = write_csv(data / "a.csv", 2)

    def down(body, content_type, accept):
        raise ConnectionError("connection refused")

    with pytest.raises(TransformJobFailed, match="a.csv lines 1-2.*refused"):
        run_transform([source], down, TransformSettings(), tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


def test_recordio_is_refused():
    with pytest.raises(TransformSettingsError, match="RecordIO is not supported"):
        TransformSettings(split_type="RecordIO").resolve()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"max_payload_in_mb": 101}, "between 0 and 100"),
        ({"max_payload_in_mb": 50, "max_concurrent_transforms": 3}, "at most 100"),
        ({"batch_strategy": "Batch"}, "BatchStrategy must be one of"),
        ({"input_filter": "$.features"}, "InputFilter"),
        ({"join_source": "Input", "split_type": "None"}, "SplitType=Line"),
    ],
)
def test_invalid_jobs_are_refused(fields, message):
    with pytest.raises(TransformSettingsError, match=message):
        TransformSettings(**fields).resolve()


def test_job_values_win_over_execution_parameters():
    params = {
        "MaxConcurrentTransforms": 4,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 6,
    }
    resolved = TransformSettings(max_payload_in_mb=2).resolve(params)
    assert resolved.batch_strategy == "SingleRecord"
    assert resolved.max_concurrent_transforms == 4
    assert resolved.max_payload_in_mb == 2
    defaults = TransformSettings().resolve()
    assert (defaults.batch_strategy, defaults.max_payload_in_mb) == ("MultiRecord", 6)
    assert defaults.max_concurrent_transforms == 1


def test_container_environment_is_what_sagemaker_sets():
    settings = TransformSettings(
        batch_strategy="MultiRecord", max_payload_in_mb=5, max_concurrent_transforms=2
    )
    assert container_environment(settings) == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "5",
        "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
    }
    # What the job leaves open, the container's /execution-parameters proposes.
    assert container_environment(TransformSettings()) == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "6",
    }


def test_input_filter_join_and_output_filter_on_csv(data, tmp_path):
    source = data / "a.csv"
    source.write_text("id1,3,x\nid2,4,y\n")
    server = FakeServer()
    settings = TransformSettings(
        input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]"
    )
    run_transform([source], server, settings, tmp_path / "out")
    assert server.bodies == [b"3,x\n4,y\n"]
    assert (tmp_path / "out" / "a.csv.out").read_text() == "id1,6.0\nid2,8.0\n"


def test_join_on_json_lines(data, tmp_path):
    source = data / "a.jsonl"
    source.write_text('{"f": [1]}\n[2, 5]\n')

    def model(body, content_type, accept):
        assert content_type == "application/jsonlines"
        return 200, b"0.1\n0.9\n"

    settings = TransformSettings(
        content_type="application/jsonlines", join_source="Input"
    )
    run_transform([source], model, settings, tmp_path / "out")
    lines = (tmp_path / "out" / "a.jsonl.out").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"f": [1], "SageMakerOutput": 0.1},
        [2, 5, 0.9],
    ]


def test_join_needs_one_output_line_per_record(data, tmp_path):
    source = write_csv(data / "a.csv", 3)

    def one_line(body, content_type, accept):
        return 200, b"[1, 2, 3]\n"

    settings = TransformSettings(join_source="Input")
    with pytest.raises(TransformJobFailed, match="answered 1 lines for the 3"):
        run_transform([source], one_line, settings, tmp_path / "out")


def test_outputs_keep_relative_paths_under_the_input_root(data, tmp_path):
    (data / "day=1").mkdir()
    source = write_csv(data / "day=1" / "a.csv", 2)
    result = run_transform(
        [source], FakeServer(), TransformSettings(), tmp_path / "out", input_root=data
    )
    assert result.outputs == [tmp_path / "out" / "day=1" / "a.csv.out"]


def test_a_failure_names_the_input_by_its_path_under_the_root(data, tmp_path):
    (data / "day=2").mkdir()
    source = data / "day=2" / "a.csv"
    source.write_text("1\nbroken\n")
    server = FakeServer(fail_on=b"broken", status=415)
    settings = TransformSettings(batch_strategy="SingleRecord")
    with pytest.raises(TransformJobFailed, match="415 for day=2/a.csv line 2"):
        run_transform([source], server, settings, tmp_path / "out", input_root=data)
    assert not list((tmp_path / "out" / "day=2").iterdir())


def test_a_line_too_long_for_any_request_fails_before_the_rest_is_read(tmp_path):
    big = tmp_path / "in" / "big.csv"
    big.parent.mkdir()
    with big.open("wb") as fh:
        fh.write(b"1,2\n")
        fh.write(b"3," + b"9" * (20 * MB))  # 20 MB and no line end
    server = FakeServer()
    reads: list[int] = []
    real_open = Path.open

    def counting_open(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        if self == big:
            real_readline = handle.readline

            def readline(size=-1):
                line = real_readline(size)
                reads.append(len(line))
                return line

            handle.readline = readline
        return handle

    settings = TransformSettings(max_payload_in_mb=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", counting_open)
        with pytest.raises(TransformJobFailed) as failed:
            run_transform([big], server, settings, tmp_path / "out")
    assert "line 2 of big.csv is over MaxPayloadInMB=1" in failed.value.failure_reason
    assert max(reads) <= MB + 1  # never the whole line in memory
    assert server.requests == 0 and not list((tmp_path / "out").rglob("*.out"))


def test_split_none_refuses_a_file_over_the_payload_by_its_size(tmp_path):
    (tmp_path / "in").mkdir()
    path = write_csv(tmp_path / "in" / "a.csv", rows=3)
    settings = TransformSettings(split_type="None", max_payload_in_mb=0)
    result = run_transform([path], FakeServer(), settings, tmp_path / "out")
    assert result.records == 1 and result.requests == 1  # 0: no limit but 100 MB
    with path.open("ab") as fh:
        fh.truncate(MB + 10)
    settings = TransformSettings(split_type="None", max_payload_in_mb=1)
    with pytest.raises(TransformJobFailed, match="with SplitType=None a whole file"):
        run_transform([path], FakeServer(), settings, tmp_path / "out2")


def test_inputs_share_the_jobs_requests_in_flight(tmp_path):
    # Six small inputs of one request each: transformed side by side, yet
    # never more requests at once than MaxConcurrentTransforms.
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [write_csv(folder / f"f{i}.csv", rows=5) for i in range(6)]
    server = FakeServer(delay=0.1)
    settings = TransformSettings(max_concurrent_transforms=3)
    result = run_transform(paths, server, settings, tmp_path / "out")
    assert server.requests == 6 and 1 < server.most_in_flight <= 3
    assert [f.input for f in result.files] == paths  # in input order
    assert all(p.read_text().count("\n") == 5 for p in result.outputs)


def test_a_failed_input_stops_the_others_and_keeps_only_completed_outputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    first = write_csv(folder / "a.csv", rows=2)
    bad = folder / "b.csv"
    bad.write_text("1\nboom\n")
    long = write_csv(folder / "c.csv", rows=400)
    server = FakeServer(delay=0.02, fail_on=b"boom")
    settings = TransformSettings(
        batch_strategy="SingleRecord", max_concurrent_transforms=2
    )
    with pytest.raises(TransformJobFailed) as failed:
        run_transform([first, bad, long], server, settings, tmp_path / "out")
    assert "b.csv line 2" in failed.value.failure_reason
    assert server.requests < 2 + 2 + 400  # c.csv was stopped, not finished
    # Only whole outputs of completed inputs remain (a.csv's, if it finished
    # first), and the failure lists exactly those; no partial file is left.
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] in ([], ["a.csv.out"])
    assert failed.value.outputs == outputs


def test_a_later_input_failing_stops_an_earlier_one(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    long = write_csv(folder / "a.csv", rows=200)
    bad = folder / "b.csv"
    bad.write_text("boom\n")
    server = FakeServer(delay=0.02, fail_on=b"boom")
    settings = TransformSettings(
        batch_strategy="SingleRecord", max_concurrent_transforms=2
    )
    with pytest.raises(TransformJobFailed, match="b.csv line 1"):
        run_transform([long, bad], server, settings, tmp_path / "out")
    assert server.requests < 100  # a.csv stopped, not sent to its end
    assert list((tmp_path / "out").iterdir()) == []


def test_what_the_container_proposes_is_checked_too():
    with pytest.raises(TransformSettingsError, match="MaxPayloadInMB='lots'"):
        TransformSettings().resolve({"MaxPayloadInMB": "lots"})
    with pytest.raises(TransformSettingsError, match="at most 100, got 2 x 0"):
        # 0 is "no limit", capped at 100 MB a request: no room for two.
        TransformSettings(max_payload_in_mb=0, max_concurrent_transforms=2).resolve()
