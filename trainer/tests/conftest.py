from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: A custom endpoint, as on the in-cluster substrate (path-style); moto serves it in-process.
ENDPOINT = "http://objects.sovereign.test:8333"


def job_environ(tmp_path: Path | str, **over: str | None) -> dict[str, str]:
    """A job's environment; a variable given as None is left out."""
    env: dict[str, str | None] = {
        "SOVEREIGN_JOB_KIND": "lora",
        "SOVEREIGN_JOB_NAME": "support-v2",
        "MODEL_URI": "s3://acme-models/llama-3.1-8b-instruct/",
        "DATASET_URI": "s3://acme-datasets/teams/research/support/train.jsonl",
        "CHECKPOINT_URI": "s3://acme-checkpoints/teams/research/support-v2/",
        "OUTPUT_URI": "s3://acme-models/teams/research/support-v2/",
        "RESUME_FROM_CHECKPOINT": "auto",
        "CHECKPOINT_ON_SIGTERM": "true",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL_S3": ENDPOINT,
        "AWS_REGION": "us-east-1",
        "S3_FORCE_PATH_STYLE": "true",
    }
    env.update(over)
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    """moto's in-process S3, answering the custom endpoint too; yields a client from the env."""
    from moto import mock_aws

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_S3_CUSTOM_ENDPOINTS": ENDPOINT,
    }.items():
        monkeypatch.setenv(k, v)
    from sovereign_train.s3 import client_from_env

    with mock_aws():
        client = client_from_env(
            {"AWS_ENDPOINT_URL_S3": ENDPOINT, "AWS_REGION": "us-east-1", "S3_FORCE_PATH_STYLE": "true"}
        )
        for b in ("acme-models", "acme-datasets", "acme-checkpoints"):
            client.create_bucket(Bucket=b)
        yield client


@pytest.fixture
def keep_sigterm() -> Iterator[None]:
    """cli.main installs a SIGTERM handler; put the previous one back."""
    old = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, old)


# A skipped test is a test that did not run: the suite fails instead of passing quietly
# (e.g. when torch is missing from the venv). SOVEREIGN_ALLOW_SKIPS=1 turns this off for a
# developer's partial venv; the test command never sets it.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    if _skipped and os.environ.get("SOVEREIGN_ALLOW_SKIPS") != "1" and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped and os.environ.get("SOVEREIGN_ALLOW_SKIPS") != "1":
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; a skip fails this suite: " + ", ".join(_skipped), red=True
        )
