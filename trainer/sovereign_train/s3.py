"""s3:// URIs and prefix sync with boto3 (honours AWS_ENDPOINT_URL_S3 and S3_FORCE_PATH_STYLE)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import BadInput

if TYPE_CHECKING:  # types only (requirements-stubs.txt); the image does not install the stubs
    from types_boto3_s3 import S3Client

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        """A URI ending in '/' (or the bucket root) names a folder of objects."""
        return self.key == "" or self.key.endswith("/")

    def as_prefix(self) -> S3Uri:
        return self if self.is_prefix else S3Uri(self.bucket, self.key + "/")

    def join(self, *parts: str) -> S3Uri:
        """The URI of a key below this prefix; parts may not climb out of it."""
        rel = "/".join(p.strip("/") for p in parts if p.strip("/"))
        check_relative_key(rel)
        return S3Uri(self.bucket, self.as_prefix().key + rel)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def check_relative_key(rel: str) -> None:
    if rel.startswith("/") or ".." in rel.split("/"):
        raise BadInput(f'expected a key inside the prefix, found "{rel}"')


def parse_s3_uri(value: object, name: str = "URI") -> S3Uri:
    """Parses `s3://bucket/key`; raises BadInput naming `name` and quoting the value (which may
    come from JSON, so it is checked to be a string)."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise BadInput(f'expected {name} to be an s3://bucket/key URI, found "{value}"')
    m = re.search(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value)
    if m:
        # Kubernetes leaves $(VAR) as is when VAR is not defined in the container's env.
        raise BadInput(
            f'expected {name} to be an s3:// URI, found "{value}" (unexpanded $({m.group(1)}): '
            "is the training-env ConfigMap missing?)"
        )
    rest = value[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise BadInput(f'expected {name} to name a valid bucket, found "{bucket}" in "{value}"')
    if "//" in key or key.startswith("/") or ".." in key.split("/"):
        raise BadInput(f'expected {name} to have a clean key, found "{key}" in "{value}"')
    return S3Uri(bucket, key)


def client_from_env(environ: Mapping[str, str] | None = None) -> S3Client:
    """A boto3 S3 client for the platform's object store.

    Endpoint: AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL, else the AWS default); region:
    AWS_REGION / AWS_DEFAULT_REGION; path-style when S3_FORCE_PATH_STYLE=true (in-cluster
    object stores). Credentials: boto3's usual chain (env keys, web identity on AWS).
    """
    import boto3
    from botocore.config import Config

    env = os.environ if environ is None else environ
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    path_style = env.get("S3_FORCE_PATH_STYLE", "false").lower() == "true"
    config = Config(
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"max_attempts": 10, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def list_keys(client: S3Client, uri: S3Uri) -> Iterator[str]:
    """Keys below a prefix, relative to it (folder markers skipped)."""
    prefix = uri.as_prefix().key
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=uri.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :]
            if rel and not rel.endswith("/"):
                yield rel


def object_exists(client: S3Client, uri: S3Uri) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=uri.bucket, Key=uri.key)
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def download_file(client: S3Client, uri: S3Uri, dest: str) -> str:
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    client.download_file(uri.bucket, uri.key, dest)
    return dest


def sync_down(client: S3Client, uri: S3Uri, local_dir: str) -> list[str]:
    """Copies every object below the prefix into local_dir (same relative layout).

    Files already present with the same size are kept (a restarted pod does not fetch twice).
    Returns the relative paths. Keys that would land outside local_dir are refused.
    """
    prefix = uri.as_prefix()
    root = os.path.realpath(local_dir)
    out: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix.key) :]
            if not rel or rel.endswith("/"):
                continue
            check_relative_key(rel)
            dest = os.path.realpath(os.path.join(root, rel))
            if not dest.startswith(root + os.sep):
                raise BadInput(f'expected a key inside the prefix, found "{obj["Key"]}"')
            if not (os.path.isfile(dest) and os.path.getsize(dest) == obj["Size"]):
                download_file(client, S3Uri(prefix.bucket, obj["Key"]), dest)
            out.append(rel)
    return sorted(out)


def local_files(local_dir: str) -> list[str]:
    """Relative paths of the files below local_dir, sorted."""
    out = []
    for dirpath, _dirs, files in os.walk(local_dir):
        for f in files:
            out.append(os.path.relpath(os.path.join(dirpath, f), local_dir).replace(os.sep, "/"))
    return sorted(out)


def sync_up(client: S3Client, local_dir: str, uri: S3Uri, last: Iterable[str] = ()) -> list[str]:
    """Uploads every file below local_dir under the prefix; names in `last` go up last.

    Returns the relative paths uploaded, in upload order.
    """
    prefix = uri.as_prefix()
    files = local_files(local_dir)
    tail = [f for f in files if f in set(last)]
    order = [f for f in files if f not in set(tail)] + tail
    for rel in order:
        client.upload_file(os.path.join(local_dir, rel), prefix.bucket, prefix.key + rel)
    return order


def put_text(client: S3Client, uri: S3Uri, text: str, content_type: str = "application/json") -> None:
    client.put_object(Bucket=uri.bucket, Key=uri.key, Body=text.encode(), ContentType=content_type)
