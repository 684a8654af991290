"""Batch transform: CreateTransformJob emulated over a running `serve` container.

SageMaker's batch transform reads each input object, splits it into records
(``SplitType``), packs records into requests (``BatchStrategy`` up to
``MaxPayloadInMB``), keeps ``MaxConcurrentTransforms`` requests in flight and
writes one ``<input>.out`` object per input, assembling the responses
(``AssembleWith``). ``DataProcessing`` may filter each record before it is sent
(``InputFilter``), join the output to its input (``JoinSource=Input``) and
filter the joined record (``OutputFilter``).

This module is the part of that which does not need a container: it works
over ``invoke(body, content_type, accept) -> (status, body)``, so the local
backend passes a callable that posts to the container's /invocations and the
tests pass a fake. Each output is written to a temporary file beside its final
name and renamed once the whole input transformed, so an output is either
complete or absent. A request that fails (an HTTP status of 400 or more, or no
answer) fails the job and stops its other inputs; the failure reason names
the input file and the lines the request held, as SageMaker's does. Up to
four inputs are transformed at once, all their requests sharing the job's
``MaxConcurrentTransforms``, so inputs of a request or two each still keep the
container's workers busy.

Not reproduced: ``SplitType=RecordIO`` and ``TFRecord`` (refused), several
instances sharing the inputs, retries of failed requests and S3 manifests.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from container.contract import settings as contract
from orchestration.backends.base import BackendError

Invoke = Callable[[bytes, str, str], tuple[int, bytes]]

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
ASSEMBLE_WITH = ("None", "Line")
JOIN_SOURCES = ("None", "Input")
# CreateTransformJob's names for the strategy; the container reads these.
_ENV_STRATEGY = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}
_FROM_ENV_STRATEGY = {v: k for k, v in _ENV_STRATEGY.items()}
DEFAULT_MAX_CONCURRENT_TRANSFORMS = 1
DEFAULT_BATCH_STRATEGY = "MultiRecord"
OUTPUT_SUFFIX = ".out"
# Inputs transformed at once (within MaxConcurrentTransforms): enough to keep
# the requests in flight when each input is a request or two, and a bound on
# the threads (each input holds a pool of MaxConcurrentTransforms).
MAX_FILES_IN_PARALLEL = 4
MB = 1024 * 1024


class TransformSettingsError(BackendError):
    """A transform job SageMaker would refuse at CreateTransformJob."""

    code = "invalid_transform_job"


class TransformJobFailed(BackendError):
    """The job failed; ``failure_reason`` is what DescribeTransformJob shows."""

    code = "transform_job_failed"

    def __init__(self, failure_reason: str, outputs: Sequence[Path] = ()):
        super().__init__(failure_reason)
        self.failure_reason = failure_reason
        # The outputs of inputs that completed before the failure.
        self.outputs = list(outputs)


@dataclass(frozen=True)
class TransformSettings:
    """The fields of CreateTransformJob that shape requests and outputs.

    ``batch_strategy``, ``max_payload_in_mb`` and ``max_concurrent_transforms``
    may be left None: the container's GET /execution-parameters then decides
    (see ``resolve``), as SageMaker asks it when the job does not set them.
    """

    content_type: str = "text/csv"
    accept: str | None = None
    split_type: str = "Line"
    batch_strategy: str | None = None
    max_payload_in_mb: int | None = None
    max_concurrent_transforms: int | None = None
    assemble_with: str = "Line"
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"

    def resolve(
        self, execution_parameters: dict[str, Any] | None = None
    ) -> TransformSettings:
        """Fill what the job left unset from /execution-parameters, then defaults.

        Values set on the job win over the container's, as in SageMaker.
        """
        params = execution_parameters or {}
        strategy = self.batch_strategy
        if strategy is None and params.get("BatchStrategy"):
            raw = str(params["BatchStrategy"])
            strategy = _FROM_ENV_STRATEGY.get(raw.upper(), raw)
        payload = self.max_payload_in_mb
        if payload is None and params.get("MaxPayloadInMB") is not None:
            payload = _whole(params, "MaxPayloadInMB")
        concurrency = self.max_concurrent_transforms
        if concurrency is None and params.get("MaxConcurrentTransforms") is not None:
            concurrency = _whole(params, "MaxConcurrentTransforms")
        resolved = replace(
            self,
            batch_strategy=strategy or DEFAULT_BATCH_STRATEGY,
            max_payload_in_mb=(
                contract.BATCH_DEFAULT_MAX_PAYLOAD_MB if payload is None else payload
            ),
            max_concurrent_transforms=concurrency or DEFAULT_MAX_CONCURRENT_TRANSFORMS,
            accept=self.accept or self.content_type,
        )
        resolved.check()
        return resolved

    def check(self) -> None:
        """Refuse what CreateTransformJob refuses, or what is not emulated."""
        _one_of("SplitType", self.split_type, SPLIT_TYPES)
        if self.split_type in ("RecordIO", "TFRecord"):
            raise TransformSettingsError(
                f"SplitType={self.split_type} is not supported by the local transform job: use Line (CSV rows or JSON Lines) or None (one request per file)"
            )
        if self.batch_strategy is not None:
            _one_of("BatchStrategy", self.batch_strategy, BATCH_STRATEGIES)
        _one_of("AssembleWith", self.assemble_with, ASSEMBLE_WITH)
        _one_of("JoinSource", self.join_source, JOIN_SOURCES)
        payload = self.max_payload_in_mb
        if payload is not None and not (
            0 <= payload <= contract.BATCH_MAX_PAYLOAD_MB_LIMIT
        ):
            raise TransformSettingsError(
                f"MaxPayloadInMB must be between 0 and {contract.BATCH_MAX_PAYLOAD_MB_LIMIT}, got {payload}"
            )
        concurrency = self.max_concurrent_transforms
        if concurrency is not None and concurrency < 1:
            raise TransformSettingsError(
                f"MaxConcurrentTransforms must be at least 1, got {concurrency}"
            )
        # 0 is "no limit" but a request is still capped at 100 MB, so it
        # counts as 100 here: that bounds the bytes in flight (and read ahead).
        effective = contract.BATCH_MAX_PAYLOAD_MB_LIMIT if payload == 0 else payload
        if (
            effective
            and concurrency
            and effective * concurrency > contract.BATCH_MAX_PAYLOAD_MB_LIMIT
        ):
            raise TransformSettingsError(
                f"MaxConcurrentTransforms x MaxPayloadInMB must be at most {contract.BATCH_MAX_PAYLOAD_MB_LIMIT}, got {concurrency} x {payload}"
            )
        for name, expression in (
            ("InputFilter", self.input_filter),
            ("OutputFilter", self.output_filter),
        ):
            parse_filter(expression, name)
        if self.join_source == "Input" and self.split_type != "Line":
            raise TransformSettingsError(
                "JoinSource=Input needs SplitType=Line, so each output line joins its input record"
            )

    @property
    def max_payload_bytes(self) -> int:
        # 0 is SageMaker's "no limit"; the API still caps a request at 100 MB.
        mb = self.max_payload_in_mb
        if mb is None:
            mb = contract.BATCH_DEFAULT_MAX_PAYLOAD_MB
        return (mb or contract.BATCH_MAX_PAYLOAD_MB_LIMIT) * MB


def _whole(params: dict[str, Any], name: str) -> int:
    """A whole number the container's /execution-parameters gave, or a clear error."""
    value = params[name]
    try:
        if isinstance(value, bool) or int(value) != float(value):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise TransformSettingsError(
            f"the container's /execution-parameters gave {name}={value!r}: expected a whole number"
        ) from None


def container_environment(settings: TransformSettings) -> dict[str, str]:
    """The environment SageMaker gives the container of a transform job.

    The payload limit is always set (the server refuses bodies over it); the
    strategy and concurrency only when the job sets them, so that the
    container's /execution-parameters can propose its own (one request per
    worker) for what the job left open.
    """
    payload = settings.max_payload_in_mb
    environment = {
        contract.BATCH: "true",
        contract.MAX_PAYLOAD_IN_MB: str(
            contract.BATCH_DEFAULT_MAX_PAYLOAD_MB if payload is None else payload
        ),
    }
    if settings.batch_strategy is not None:
        environment[contract.BATCH_STRATEGY] = _ENV_STRATEGY[settings.batch_strategy]
    if settings.max_concurrent_transforms is not None:
        environment[contract.MAX_CONCURRENT_TRANSFORMS] = str(
            settings.max_concurrent_transforms
        )
    return environment


@dataclass
class FileResult:
    input: Path
    output: Path
    records: int
    requests: int


@dataclass
class TransformResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def outputs(self) -> list[Path]:
        return [f.output for f in self.files]

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def requests(self) -> int:
        return sum(f.requests for f in self.files)


@dataclass(frozen=True)
class Batch:
    """One request of a transform job: records of one input, and what was sent."""

    first_line: int
    last_line: int
    records: tuple[bytes, ...]  # as read (before InputFilter), without line ends
    body: bytes
    numbers: tuple[int, ...] = ()  # each record's line number in its input
    sent: tuple[bytes, ...] = ()  # each record as sent (after InputFilter)


# Called with (input name, batch, the container's answer) once per answered
# request, in input order: how a caller observes the records (data capture).
OnAnswer = Callable[[str, Batch, bytes], None]


def run_transform(
    files: Sequence[Path],
    invoke: Invoke,
    settings: TransformSettings,
    output_dir: Path,
    input_root: Path | None = None,
    on_answer: OnAnswer | None = None,
) -> TransformResult:
    """Transform each input into ``output_dir/<name>.out``; raise on a failure.

    ``settings`` should already be resolved against the container's
    /execution-parameters; what is still unset takes SageMaker's defaults.
    ``input_root`` keeps the inputs' relative paths under ``output_dir`` (as
    S3 keys under the input prefix are kept); otherwise the file name is used.
    ``on_answer`` sees every answered request before its output is assembled.
    """
    settings = settings.resolve()
    output_dir = Path(output_dir)
    plans = []
    for path in map(Path, files):
        relative = path.relative_to(input_root) if input_root else Path(path.name)
        target = output_dir / relative.parent / (relative.name + OUTPUT_SUFFIX)
        plans.append((path, relative.as_posix(), target))
    concurrency = settings.max_concurrent_transforms or 1
    parallel = max(1, min(len(plans), concurrency, MAX_FILES_IN_PARALLEL))
    # The inputs side by side queue MaxConcurrentTransforms requests between
    # them (plus one each), not each that many: bytes read ahead stay bounded.
    ahead = max(1, -(-concurrency // parallel))
    job = _Job(threading.BoundedSemaphore(concurrency), threading.Event(), ahead)
    done: dict[int, FileResult] = {}
    failure: TransformJobFailed | None = None
    with ThreadPoolExecutor(parallel, thread_name_prefix="transform-file") as pool:
        futures = [
            pool.submit(_transform_file, *plan, invoke, settings, on_answer, job)
            for plan in plans
        ]
        try:
            for index, future in enumerate(futures):  # results in input order
                try:
                    done[index] = future.result()
                except TransformJobFailed as exc:
                    failure = failure or exc
                    job.abort.set()  # SageMaker stops the whole job
                except _Aborted:
                    pass  # stopped because another input failed
        except BaseException:
            job.abort.set()  # Ctrl-C: no new request leaves, then the pool ends
            raise
    result = TransformResult([done[i] for i in sorted(done)])
    if failure is not None:
        raise TransformJobFailed(failure.failure_reason, result.outputs)
    return result


@dataclass(frozen=True)
class _Job:
    """What the inputs of one job share: the requests in flight, and its end."""

    gate: threading.BoundedSemaphore  # MaxConcurrentTransforms, across inputs
    abort: threading.Event  # set once an input failed (or on Ctrl-C)
    ahead: int = 1  # requests an input queues beyond the one answered next


class _Aborted(Exception):
    """An input stopped because the job ended elsewhere."""


def _transform_file(
    path: Path,
    name: str,
    target: Path,
    invoke: Invoke,
    settings: TransformSettings,
    on_answer: OnAnswer | None,
    job: _Job,
) -> FileResult:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    records = requests = 0
    source = None
    try:
        source = path.open("rb")
        batches = _batches(name, source, settings)
        with os.fdopen(fd, "wb") as out:
            for batch, answer in _in_flight(batches, invoke, settings, name, job):
                if on_answer is not None:
                    on_answer(name, batch, answer)
                out.write(_assemble(batch, answer, settings, name))
                records += len(batch.records)
                requests += 1
        os.replace(temporary, target)
    except TransformJobFailed:
        job.abort.set()  # SageMaker stops the whole job: the other inputs too
        Path(temporary).unlink(missing_ok=True)
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        if source is not None:
            source.close()
    return FileResult(path, target, records, requests)


def _records(
    source: BinaryIO, name: str, limit: int, settings: TransformSettings
) -> Iterator[tuple[int, bytes]]:
    """(line number, record) for each non-empty line; CRLF ends are dropped.

    A line is read at most `limit` + 1 bytes at a time, so one that could
    never fit a request fails the job before the rest of it is read.
    """
    number = 0
    while True:
        line = source.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            raise TransformJobFailed(
                f"ClientError: line {number} of {name} is over MaxPayloadInMB={settings.max_payload_in_mb} ({limit} bytes)"
            )
        line = line.rstrip(b"\n").rstrip(b"\r")
        if line.strip():
            yield number, line


def _batches(
    name: str, source: BinaryIO, settings: TransformSettings
) -> Iterator[Batch]:
    limit = settings.max_payload_bytes
    if settings.split_type == "None":
        size = os.fstat(source.fileno()).st_size
        if size > limit:
            raise TransformJobFailed(
                f"ClientError: {name} is {size} bytes, over MaxPayloadInMB={settings.max_payload_in_mb} ({limit} bytes); with SplitType=None a whole file is one request"
            )
        data = source.read(limit + 1)
        lines = max(1, data.count(b"\n") + (0 if data.endswith(b"\n") else 1))
        yield Batch(1, lines, (data,), data, (1,), (data,))
        return
    single = settings.batch_strategy == "SingleRecord"
    pending: list[tuple[int, bytes, bytes]] = []
    size = 0
    for number, record in _records(source, name, limit, settings):
        sent = _filter_input(record, settings, name, number)
        encoded = sent + b"\n"
        if len(encoded) > limit:
            raise TransformJobFailed(
                f"ClientError: line {number} of {name} is {len(encoded)} bytes, over MaxPayloadInMB={settings.max_payload_in_mb} ({limit} bytes)"
            )
        if pending and (single or size + len(encoded) > limit):
            yield _pack(pending)
            pending, size = [], 0
        pending.append((number, record, sent))
        size += len(encoded)
    if pending:
        yield _pack(pending)


def _pack(pending: list[tuple[int, bytes, bytes]]) -> Batch:
    return Batch(
        pending[0][0],
        pending[-1][0],
        tuple(record for _, record, _ in pending),
        b"".join(sent + b"\n" for _, _, sent in pending),
        tuple(number for number, _, _ in pending),
        tuple(sent for _, _, sent in pending),
    )


def _in_flight(
    batches: Iterator[Batch],
    invoke: Invoke,
    settings: TransformSettings,
    name: str,
    job: _Job,
) -> Iterator[tuple[Batch, bytes]]:
    """Answers in input order; the job's gate holds the requests in flight
    across all its inputs to MaxConcurrentTransforms."""
    accept = settings.accept or settings.content_type
    window: deque[tuple[Batch, Future[tuple[int, bytes]]]] = deque()
    stop = threading.Event()

    def call(batch: Batch) -> tuple[int, bytes]:
        with job.gate:
            if stop.is_set() or job.abort.is_set():
                raise _Aborted
            return invoke(batch.body, settings.content_type, accept)

    with ThreadPoolExecutor(
        max_workers=job.ahead + 1, thread_name_prefix="transform"
    ) as pool:
        try:
            for batch in batches:
                if job.abort.is_set():
                    raise _Aborted
                # This input's share of the requests in flight, plus one queued
                # so the next leaves as soon as a slot is free; no more is read.
                if len(window) > job.ahead:
                    yield _answer(*window.popleft(), name)
                window.append((batch, pool.submit(call, batch)))
            while window:
                yield _answer(*window.popleft(), name)
        finally:
            stop.set()
            for _, future in window:
                future.cancel()


def _answer(
    batch: Batch, future: Future[tuple[int, bytes]], name: str
) -> tuple[Batch, bytes]:
    where = f"{name} {_lines(batch)}"
    try:
        status, body = future.result()
    except _Aborted:
        raise
    except Exception as exc:  # the container did not answer
        raise TransformJobFailed(
            f"ClientError: no answer from the container for {where}: {exc}"
        ) from None
    if status >= 400:
        text = body.decode("utf-8", "replace")[:500]
        raise TransformJobFailed(
            f"ClientError: Bad HTTP status received from algorithm: {status} for {where}: {text}"
        )
    return batch, body


def _lines(batch: Batch) -> str:
    if batch.first_line == batch.last_line:
        return f"line {batch.first_line}"
    return f"lines {batch.first_line}-{batch.last_line}"


def _assemble(
    batch: Batch, answer: bytes, settings: TransformSettings, name: str
) -> bytes:
    if settings.join_source == "None" and settings.output_filter == "$":
        if settings.assemble_with == "Line":
            return answer.rstrip(b"\r\n") + b"\n"
        return answer
    lines = [line.rstrip(b"\r") for line in answer.rstrip(b"\r\n").split(b"\n")]
    if len(lines) != len(batch.records):
        raise TransformJobFailed(
            f"ClientError: the container answered {len(lines)} lines for the {len(batch.records)} records of {name} {_lines(batch)}; joining and filtering need one output line per record"
        )
    joined = []
    for offset, (record, output) in enumerate(zip(batch.records, lines, strict=True)):
        try:
            if settings.join_source == "Input":
                output = _join(record, output)
            joined.append(
                _apply_filter(output, settings.output_filter, settings.accept or "")
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransformJobFailed(
                f"ClientError: cannot join or filter the output of {name} record {offset + 1} of {_lines(batch)}: {exc}"
            ) from None
    separator = b"\n" if settings.assemble_with == "Line" else b""
    return b"".join(row + separator for row in joined)


# --- DataProcessing: a JSONPath subset over CSV rows and JSON arrays -------------
_FILTER = re.compile(
    r"^\$(?:\[(?P<slice>-?\d*:-?\d*)\]|\[(?P<list>-?\d+(?:\s*,\s*-?\d+)*)\])?$"
)


def parse_filter(expression: str, name: str = "filter") -> slice | list[int] | None:
    """``$`` (None), ``$[a:b]`` (a slice) or ``$[i,j,...]`` (indices)."""
    match = _FILTER.match(expression.replace(" ", ""))
    if not match:
        raise TransformSettingsError(
            f"{name} {expression!r} is not supported: use $, $[a:b] or $[i,j,...] (columns of a CSV row or items of a JSON array)"
        )
    if match.group("slice") is not None:
        start, stop = match.group("slice").split(":")
        return slice(int(start) if start else None, int(stop) if stop else None)
    if match.group("list") is not None:
        return [int(i) for i in match.group("list").split(",")]
    return None


def _select(items: list[Any], selector: slice | list[int]) -> list[Any]:
    if isinstance(selector, slice):
        return items[selector]
    try:
        return [items[i] for i in selector]
    except IndexError:
        raise ValueError(f"index out of range for {len(items)} items") from None


def _is_json(record: bytes) -> bool:
    return record.lstrip()[:1] in (b"[", b"{")


def _apply_filter(record: bytes, expression: str, content_type: str) -> bytes:
    selector = parse_filter(expression)
    if selector is None:
        return record
    if _is_json(record) or "json" in content_type:
        value = json.loads(record)
        if not isinstance(value, list):
            raise ValueError("a JSON filter with indices needs a JSON array")
        return json.dumps(_select(value, selector)).encode()
    row = next(csv.reader([record.decode("utf-8")]))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(_select(row, selector))
    return buffer.getvalue().encode()


def _filter_input(
    record: bytes, settings: TransformSettings, name: str, number: int
) -> bytes:
    try:
        return _apply_filter(record, settings.input_filter, settings.content_type)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransformJobFailed(
            f"ClientError: InputFilter {settings.input_filter} cannot apply to line {number} of {name}: {exc}"
        ) from None


def _join(record: bytes, output: bytes) -> bytes:
    """JoinSource=Input: CSV columns appended; JSON under SageMakerOutput."""
    if _is_json(record):
        value = json.loads(record)
        try:
            result: Any = json.loads(output)
        except ValueError:
            result = output.decode("utf-8", "replace")
        if isinstance(value, dict):
            value["SageMakerOutput"] = result
        else:
            value.append(result)
        return json.dumps(value).encode()
    return record + b"," + output


def _one_of(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise TransformSettingsError(
            f"{name} must be one of {', '.join(allowed)}, got {value!r}"
        )
