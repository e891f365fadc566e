"""In-cluster retention (sovereign_train/retention.py): the pure choice of what expires, the target
checks, and the deletion against the S3-compatible test store (moto) with recorded object ages:
only objects under exactly the configured prefix and older than the days go; nothing else."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from sovereign_train import BadInput
from sovereign_train.retention import DELETE_BATCH, Target, expire, expired, main, parse_target

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)
LOGS = "acme-inference-logs"


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_expired_keeps_the_young_and_the_exact_boundary() -> None:
    objs = [
        ("captures/team=a/date=2026-11-01/x.jsonl", ago(34)),
        ("captures/team=a/date=2026-11-05/y.jsonl", ago(30)),  # exactly 30 days: kept
        ("captures/team=a/date=2026-11-06/z.jsonl", ago(29.9)),
    ]
    assert list(expired(objs, "captures/team=a/", ago(30))) == ["captures/team=a/date=2026-11-01/x.jsonl"]


def test_expired_refuses_a_key_outside_its_prefix() -> None:
    objs = [("captures/team=a/old", ago(99)), ("captures/team=ab/old", ago(99))]
    with pytest.raises(BadInput, match='found "captures/team=ab/old"'):
        list(expired(objs, "captures/team=a/", ago(30)))


@pytest.mark.parametrize(
    "text,message",
    [
        ("acme-logs/captures/=30", "expected a prefix"),
        ("acme-logs/captures/team=a=30", "expected a prefix"),  # no trailing slash
        ("acme-logs/captures/=3", "expected a prefix"),
        ("acme-logs/=30", "expected a prefix"),  # the whole bucket
        ("acme-logs/teams/a/=30", "expected a prefix"),  # more than the team's flywheel data
        ("acme-logs/teams/a/flywheel/../=30", "expected a prefix"),
        ("acme-logs/captures/team=a/=0", "days >= 1"),
        ("acme-logs/captures/team=a/=-1", "days >= 1"),
        ("acme-logs/captures/team=a/=", "days >= 1"),
        ("Acme/captures/team=a/=3", "bucket name"),
        ("acme-logs/teams/a/flywheel/", "BUCKET/PREFIX=DAYS"),
        ("acme-logs=30", "BUCKET/PREFIX=DAYS"),
    ],
)
def test_parse_target_refuses_what_could_widen_a_deletion(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_target(text)


def test_parse_target_accepts_both_prefixes() -> None:
    assert parse_target("acme-logs/captures/team=research/=30") == Target("acme-logs", "captures/team=research/", 30)
    assert parse_target("acme-ds/teams/research/flywheel/=90") == Target("acme-ds", "teams/research/flywheel/", 90)


def _seed(s3: S3Client, objects: Mapping[str, float]) -> None:
    """Puts each key with a recorded age in days (moto stamps LastModified with its utcnow)."""
    from unittest import mock

    for key, age in objects.items():
        with mock.patch("moto.s3.models.utcnow", return_value=ago(age).replace(tzinfo=None)):
            s3.put_object(Bucket=LOGS, Key=key, Body=b"{}")


def _keys(s3: S3Client, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def test_expire_deletes_only_old_objects_under_exactly_the_prefix(fake_s3: S3Client) -> None:
    fake_s3.create_bucket(Bucket=LOGS)
    objects = {
        "captures/team=a/date=2026-10-01/model=m/1.jsonl": 65,
        "captures/team=a/date=2026-11-01/model=m/2.jsonl": 34,
        "captures/team=a/date=2026-12-01/model=m/3.jsonl": 4,
        "captures/team=ab/date=2026-10-01/model=m/4.jsonl": 65,  # another team, same leading letters
        "captures/date=2026-10-01/team=a/5.jsonl": 65,  # the old layout: not under the prefix
        "decisions/2026-10-01/6.jsonl": 65,
    }
    _seed(fake_s3, objects)
    report = expire(fake_s3, Target(LOGS, "captures/team=a/", 30), NOW)
    assert report["listed"] == 3 and report["expired"] == 2 and report["kept"] == 1
    gone = {"captures/team=a/date=2026-10-01/model=m/1.jsonl", "captures/team=a/date=2026-11-01/model=m/2.jsonl"}
    assert _keys(fake_s3, LOGS) == sorted(k for k in objects if k not in gone)


def test_expire_dry_run_deletes_nothing(fake_s3: S3Client) -> None:
    fake_s3.create_bucket(Bucket=LOGS)
    _seed(fake_s3, {"captures/team=a/old.jsonl": 40})
    report = expire(fake_s3, Target(LOGS, "captures/team=a/", 30), NOW, dry_run=True)
    assert report["expired"] == 1
    assert _keys(fake_s3, LOGS) == ["captures/team=a/old.jsonl"]


def test_expire_pages_and_batches_past_one_delete_request(fake_s3: S3Client) -> None:
    fake_s3.create_bucket(Bucket=LOGS)
    n = DELETE_BATCH + 7
    _seed(fake_s3, {f"captures/team=a/d/{i:05d}.jsonl": 40 for i in range(n)})
    _seed(fake_s3, {"captures/team=a/d/young.jsonl": 1})
    report = expire(fake_s3, Target(LOGS, "captures/team=a/", 30), NOW)
    assert report["expired"] == n
    assert _keys(fake_s3, LOGS) == ["captures/team=a/d/young.jsonl"]


def test_main_reports_per_target_and_refuses_bad_targets_by_name(
    fake_s3: S3Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import ENDPOINT

    fake_s3.create_bucket(Bucket=LOGS)
    _seed(fake_s3, {"captures/team=a/old.jsonl": 40, "captures/team=a/new.jsonl": 2})
    env = {"AWS_ENDPOINT_URL_S3": ENDPOINT, "AWS_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}
    assert main([f"--target={LOGS}/captures/team=a/=30"], env, NOW) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["prefix"], o["expired"], o["kept"]) for o in out] == [("captures/team=a/", 1, 1)]
    assert main([f"--target={LOGS}/captures/=30"], env, NOW) == 2
    assert 'expected a prefix captures/team=<team>/ or teams/<team>/flywheel/, found "captures/"' in (
        capsys.readouterr().err
    )
    assert _keys(fake_s3, LOGS) == ["captures/team=a/new.jsonl"]
