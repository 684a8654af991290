"""Check every AWS request against the service model, as AWS does and botocore does not.

botocore's ParamValidator checks types, required members and minimum lengths;
it skips the service model's `pattern` and `enum` constraints and most maximum
lengths, which AWS enforces on its side with a ValidationException. moto skips
them too, so a request AWS would refuse passes every emulator.

`install()` patches botocore's client creation so that every client made in
the test process (boto3's, the AWS backend's, the SageMaker SDK's) runs
`check_request` on `before-parameter-build`. A violation is answered the way
AWS answers it, with a `ClientError` (ValidationException, AWS's wording), and
is also recorded, so a test whose code under test swallows the error still
fails (see the `service_model_violations` fixture in tests/conftest.py).
Patterns are Java regexes with `\\p{L}`-style classes, which Python's `re`
cannot read: the `regex` package can. AWS matches them against the whole value.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import botocore.session
import regex
from botocore.exceptions import ClientError
from botocore.model import Shape


@dataclass(frozen=True)
class Violation:
    operation: str  # e.g. sagemaker.CreateModelPackage
    path: str  # e.g. CustomerMetadataProperties.lineage:data_hashes
    problem: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.path}: {self.problem}"


RECORDED: list[Violation] = []


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def violations_of(shape: Shape | None, value: Any, path: str) -> list[tuple[str, str]]:
    """(path, problem) for every pattern, enum or length the value breaks."""
    if shape is None or value is None:
        return []
    found: list[tuple[str, str]] = []
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                found += violations_of(
                    member, value[name], f"{path}.{name}".lstrip(".")
                )
        return found
    if kind == "list" and isinstance(value, list | tuple):
        found += _sized(meta, len(value), path, "items")
        for i, item in enumerate(value):
            found += violations_of(shape.member, item, f"{path}[{i}]")
        return found
    if kind == "map" and isinstance(value, dict):
        found += _sized(meta, len(value), path, "entries")
        for key, item in value.items():
            found += violations_of(shape.key, key, f"{path} key {key!r}")
            found += violations_of(shape.value, item, f"{path}.{key}")
        return found
    if kind == "string" and isinstance(value, str):
        found += _sized(meta, len(value), path, "characters")
        if shape.enum and value not in shape.enum:
            found.append(
                (path, f"value {_show(value)} is not one of {', '.join(shape.enum)}")
            )
        pattern = meta.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            found.append(
                (
                    path,
                    f"value {_show(value)} does not satisfy the regular expression "
                    f"pattern {pattern}",
                )
            )
        return found
    if kind in ("integer", "long", "float", "double") and isinstance(
        value, int | float
    ):
        if "max" in meta and value > meta["max"]:
            found.append((path, f"value {value} is greater than {meta['max']}"))
        if "min" in meta and value < meta["min"]:
            found.append((path, f"value {value} is less than {meta['min']}"))
    return found


def _sized(meta: dict, size: int, path: str, unit: str) -> list[tuple[str, str]]:
    if "max" in meta and size > meta["max"]:
        return [(path, f"has {size} {unit}, more than the maximum {meta['max']}")]
    if "min" in meta and size < meta["min"]:
        return [(path, f"has {size} {unit}, fewer than the minimum {meta['min']}")]
    return []


def check_request(model, params, **kwargs) -> None:
    """botocore handler: refuse what AWS would refuse, and record it."""
    operation = f"{model.service_model.service_name}.{model.name}"
    problems = violations_of(model.input_shape, params, "")
    if not problems:
        return
    found = [Violation(operation, path, problem) for path, problem in problems]
    RECORDED.extend(found)
    detail = "; ".join(f"Value at '{v.path}' failed: {v.problem}" for v in found)
    raise ClientError(
        {
            "Error": {
                "Code": "ValidationException",
                "Message": f"{len(found)} validation error(s) detected: {detail}",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        model.name,
    )


_original_create_client = botocore.session.Session.create_client


def _create_checked_client(self, *args, **kwargs):
    client = _original_create_client(self, *args, **kwargs)
    client.meta.events.register_first("before-parameter-build", check_request)
    return client


def install() -> None:
    """Check the requests of every botocore client created from now on."""
    botocore.session.Session.create_client = _create_checked_client
