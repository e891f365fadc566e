"""Retention of a team's flywheel data on an object store without lifecycle rules (the in-cluster
substrate's SeaweedFS; on AWS S3 lifecycle rules do this): deletes the objects under exactly the
configured prefixes whose last modification is older than the configured days.

`python -m sovereign_train.retention --target BUCKET/PREFIX=DAYS [--target …] [--dry-run]`,
with the store's endpoint and the retention identity's keys in the environment. It runs only
where a team set `flywheel.retentionDays` (the data is the customer's: no setting, no job), and
its store identity may list and delete under those prefixes and nothing else.

A prefix must be one of the two the setting covers — a team's captures `captures/team=<team>/`
or its flywheel datasets `teams/<team>/flywheel/` — so a mistyped target cannot widen what is
deleted; a listed key outside its prefix stops the run before anything is deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import BadInput

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

_TEAM = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
#: The only prefixes retention may delete under (components/lib/scopes.ts `retentionExpirations`).
RETENTION_PREFIX = re.compile(rf"^(captures/team={_TEAM}/|teams/{_TEAM}/flywheel/)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: S3 DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str
    days: int


def parse_target(text: str) -> Target:
    """`bucket/prefix=days`, checked: a bucket name, one of the retention prefixes, days >= 1."""
    where, sep, days_text = text.rpartition("=")
    bucket, slash, prefix = where.partition("/")
    if not sep or not slash:
        raise BadInput(f'--target: expected BUCKET/PREFIX=DAYS, found "{text}"')
    if not _BUCKET.match(bucket):
        raise BadInput(f'--target: expected a bucket name, found "{bucket}" in "{text}"')
    if not RETENTION_PREFIX.match(prefix):
        raise BadInput(f'--target: expected a prefix captures/team=<team>/ or teams/<team>/flywheel/, found "{prefix}"')
    if not re.fullmatch(r"[1-9][0-9]{0,5}", days_text):
        raise BadInput(f'--target: expected a whole number of days >= 1, found "{days_text}" in "{text}"')
    return Target(bucket, prefix, int(days_text))


def expired(objects: Iterable[tuple[str, dt.datetime]], prefix: str, cutoff: dt.datetime) -> Iterator[str]:
    """The keys of `objects` (key, last modified) last modified before `cutoff`. A key outside
    `prefix` is an error, never a deletion (the listing or the caller is wrong)."""
    for key, modified in objects:
        if not key.startswith(prefix):
            raise BadInput(f'expected every listed key under "{prefix}", found "{key}"')
        if modified < cutoff:
            yield key


def _listing(client: S3Client, t: Target) -> Iterator[tuple[str, dt.datetime]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=t.bucket, Prefix=t.prefix)
    for page in pages:
        for o in page.get("Contents", []):
            yield o["Key"], o["LastModified"]


def _delete(client: S3Client, bucket: str, keys: list[str]) -> None:
    r = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    errors = r.get("Errors", [])
    if errors:
        first = errors[0]
        raise RuntimeError(
            f"delete refused for {len(errors)} of {len(keys)} objects in {bucket}, first "
            f'"{first.get("Key")}": {first.get("Code")} {first.get("Message")}'
        )


def expire(client: S3Client, t: Target, now: dt.datetime, dry_run: bool = False) -> dict[str, object]:
    """Deletes what `t` says has expired (streaming: one batch of keys in memory at a time)."""
    cutoff = now - dt.timedelta(days=t.days)
    seen = 0
    deleted = 0
    batch: list[str] = []

    def counted() -> Iterator[tuple[str, dt.datetime]]:
        nonlocal seen
        for item in _listing(client, t):
            seen += 1
            yield item

    for key in expired(counted(), t.prefix, cutoff):
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            if not dry_run:
                _delete(client, t.bucket, batch)
            deleted += len(batch)
            batch = []
    if batch:
        if not dry_run:
            _delete(client, t.bucket, batch)
        deleted += len(batch)
    return {
        "bucket": t.bucket,
        "prefix": t.prefix,
        "days": t.days,
        "cutoff": cutoff.isoformat(),
        "listed": seen,
        "expired": deleted,
        "kept": seen - deleted,
        "dryRun": dry_run,
    }


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> int:
    p = argparse.ArgumentParser(prog="python -m sovereign_train.retention", allow_abbrev=False)
    p.add_argument("--target", action="append", required=True, help="BUCKET/PREFIX=DAYS (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    args = p.parse_args(argv)
    from .s3 import client_from_env

    try:
        targets = [parse_target(t) for t in args.target]
    except BadInput as e:
        print(f"retention: {e}", file=sys.stderr)
        return 2
    client = client_from_env(os.environ if env is None else env)
    at = now or dt.datetime.now(dt.timezone.utc)
    for t in targets:
        print(json.dumps(expire(client, t, at, args.dry_run), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
