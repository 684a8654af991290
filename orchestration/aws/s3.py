"""S3 locations: parse, upload a folder, bring a prefix or object back.

Downloads land in a temporary file beside their destination and are renamed
into place, so an interrupted fetch never leaves a half-written file that
looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration import files
from orchestration.aws.errors import aws_call
from orchestration.backends.base import BackendError, ResourceNotFound

SCHEME = "s3://"


def is_s3_uri(location: str) -> bool:
    return location.startswith(SCHEME)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix` -> (bucket, "key/prefix")."""
    if not is_s3_uri(uri):
        raise BackendError(f"{uri!r} is not an S3 URI: expected s3://bucket/prefix")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise BackendError(f"{uri!r} names no bucket: expected s3://bucket/prefix")
    return bucket, key


def join(uri: str, *parts: str) -> str:
    """Join S3 URI parts with exactly one slash between them."""
    pieces = [uri.rstrip("/")] + [p.strip("/") for p in parts if p.strip("/")]
    return "/".join(pieces)


def upload_dir(s3: Any, local_dir: Path, uri: str) -> str:
    """Upload every file under `local_dir` below `uri`; returns the prefix with '/'."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise BackendError(f"cannot upload {local_dir}: not a folder")
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    if not files:
        raise BackendError(f"cannot upload {local_dir}: the folder holds no files")
    bucket, prefix = parse_s3_uri(uri)
    for path in files:
        key = "/".join(
            filter(None, [prefix.strip("/"), path.relative_to(local_dir).as_posix()])
        )
        with aws_call(f"uploading {path} to s3://{bucket}/{key}"):
            s3.upload_file(str(path), bucket, key)
    return join(uri) + "/"


def put_json(s3: Any, uri: str, data: Any) -> str:
    bucket, key = parse_s3_uri(uri)
    with aws_call(f"writing {uri}"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(data, indent=2).encode(),
            ContentType="application/json",
        )
    return uri


def list_keys(s3: Any, uri: str) -> list[str]:
    return [obj["Key"] for obj in list_objects(s3, uri)]


def list_objects(s3: Any, uri: str) -> list[dict[str, Any]]:
    """ListObjectsV2 entries (Key, LastModified, Size, ...) below `uri`."""
    bucket, prefix = parse_s3_uri(uri)
    objects: list[dict[str, Any]] = []
    with aws_call(f"listing {uri}"):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            objects.extend(page.get("Contents", []))
    return objects


def download(s3: Any, uri: str, local_dir: Path) -> Path:
    """Fetch one object (returns its path) or a whole prefix (returns the folder)."""
    bucket, prefix = parse_s3_uri(uri)
    local_dir = Path(local_dir)
    keys = list_keys(s3, uri)
    if prefix in keys:  # the URI names one object, e.g. .../model.tar.gz
        target = local_dir / Path(prefix).name
        _download_atomic(s3, bucket, prefix, target)
        return target
    folder = prefix.rstrip("/") + "/" if prefix else ""
    below = [k for k in keys if k.startswith(folder) and not k.endswith("/")]
    if not below:
        raise ResourceNotFound(f"nothing found at {uri}")
    for key in below:
        _download_atomic(s3, bucket, key, local_dir / key[len(folder) :])
    return local_dir


def _download_atomic(s3: Any, bucket: str, key: str, target: Path) -> None:
    with files.replacing(target) as tmp, aws_call(f"downloading s3://{bucket}/{key}"):
        s3.download_file(bucket, key, str(tmp))
