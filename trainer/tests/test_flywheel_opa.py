"""The dataset builder against a REAL OPA (the pinned binary scripts/tools.sh builds into
.tools/bin/opa, or $SOVEREIGN_OPA) serving policies/data/data_access.rego, and the job's S3 side
against moto: captures in, a versioned dataset with its manifest out. A missing OPA fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from conftest import ENDPOINT
from flywheel_fixtures import capture

from sovereign_train.flywheel_cli import OpaDecider, main

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPA = os.environ.get("SOVEREIGN_OPA") or os.path.join(REPO, ".tools", "bin", "opa")
DATA = {
    "sovereign": {
        "teams": {
            # research may train on public and internal data only; finance on everything.
            "research": {
                "oidcGroup": "g-research",
                "clearance": "confidential",
                "trainableClassifications": ["public", "internal"],
            },
            "finance": {
                "oidcGroup": "g-finance",
                "clearance": "restricted",
                "trainableClassifications": ["public", "internal", "confidential", "restricted"],
            },
        }
    }
}


@pytest.fixture(scope="module")
def opa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert os.path.isfile(OPA), f"OPA is not installed at {OPA}: run `bash scripts/tools.sh` (the test command does)"
    d = tmp_path_factory.mktemp("opa")
    (d / "data.json").write_text(json.dumps(DATA))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            OPA,
            "run",
            "--server",
            f"--addr=127.0.0.1:{port}",
            "--log-level=error",
            os.path.join(REPO, "policies", "data", "data_access.rego"),
            str(d / "data.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                assert proc.stderr is not None  # stderr=PIPE
                raise RuntimeError("opa exited: " + proc.stderr.read().decode())
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_given_real_opa_when_asked_per_classification_then_it_decides_with_the_policys_reasons(opa_url: str) -> None:
    d = OpaDecider(opa_url)
    assert d("research", "captures/llama-chat", "internal") == (True, [])
    assert d("research", "captures/llama-chat", "confidential") == (False, ["classification_not_trainable"])
    assert d("research", "captures/llama-chat", "restricted") == (False, ["clearance_insufficient"])
    assert d("nobody", "captures/llama-chat", "public") == (False, ["team_unknown"])
    assert d("finance", "captures/llama-chat", "restricted") == (True, [])


def _put(client: S3Client, key: str, records: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    client.put_object(Bucket="acme-logs", Key=key, Body=body)


def _env(**over: str) -> dict[str, str]:
    env = {
        "SOVEREIGN_TEAM": "research",
        "CAPTURES_URI": "s3://acme-logs/captures/",
        "DATASETS_URI": "s3://acme-datasets/teams/research/flywheel/support/",
        "AWS_ENDPOINT_URL_S3": ENDPOINT,
        "AWS_REGION": "us-east-1",
        "S3_FORCE_PATH_STYLE": "true",
    }
    env.update(over)
    return env


def test_given_captures_of_two_teams_when_the_job_builds_then_it_reads_only_its_partition_and_writes_a_versioned_dataset(
    fake_s3: S3Client, opa_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_s3.create_bucket(Bucket="acme-logs")
    ok = [capture(i) for i in range(40)]
    _put(fake_s3, "captures/team=research/date=2026-12-05/model=llama-chat/b1.jsonl", ok[:30])
    _put(
        fake_s3,
        "captures/team=research/date=2026-12-06/model=llama-chat/b2.jsonl",
        ok[30:]
        + [
            capture(90, trainingConsent=False),
            capture(91, guardFlagged=True),
            capture(92, classification="confidential"),
            capture(1),
        ],
    )
    # another team's partition on the same day, and a day outside the range: never read
    _put(
        fake_s3,
        "captures/team=finance/date=2026-12-05/model=llama-chat/b3.jsonl",
        [capture(i, team="finance") for i in range(5)],
    )
    _put(fake_s3, "captures/team=research/date=2026-12-07/model=llama-chat/b4.jsonl", [capture(200)])

    argv = [
        "build-dataset",
        "--adapter=support",
        "--from=2026-12-05",
        "--to=2026-12-06",
        "--model-classification=llama-chat=internal",
        "--version=v1",
        "--min-new-records=10",
    ]
    assert main(argv, _env(OPA_URL=opa_url)) == 0, capsys.readouterr().err
    m = json.loads(capsys.readouterr().out)
    assert m["outcome"] == "built" and m["version"] == "v1"
    assert m["counts"] == {
        "read": 44,
        "kept": 40,
        "train": m["counts"]["train"],
        "eval": m["counts"]["eval"],
        "new": 40,
    }
    assert m["counts"]["train"] + m["counts"]["eval"] == 40 and m["counts"]["eval"] > 0
    assert m["exclusions"] == {
        "consent_opt_out": 1,
        "guard_flagged": 1,
        "policy:classification_not_trainable": 1,
        "duplicate_exact": 1,
    }
    assert m["classification"] == "internal" and m["policy_decisions"] == 2
    assert m["source"]["objects"] == 2 and m["source"]["first_object"].endswith(
        "team=research/date=2026-12-05/model=llama-chat/b1.jsonl"
    )
    keys = sorted(o["Key"] for o in fake_s3.list_objects_v2(Bucket="acme-datasets")["Contents"])
    base = "teams/research/flywheel/support/v1/"
    assert keys == [base + "eval.jsonl", base + "manifest.json", base + "train.jsonl"]
    train = fake_s3.get_object(Bucket="acme-datasets", Key=base + "train.jsonl")["Body"].read().decode().splitlines()
    assert len(train) == m["files"]["train.jsonl"]["records"] == m["counts"]["train"]
    assert json.loads(train[0])["messages"][-1]["role"] == "assistant"

    # a version is immutable
    assert main(argv, _env(OPA_URL=opa_url)) == 2
    assert "exists already: versions are immutable" in capsys.readouterr().err


# The dataset builder over the captures of 2026-12-05.
ONE_DAY = [
    "build-dataset",
    "--adapter=support",
    "--from=2026-12-05",
    "--to=2026-12-05",
    "--model-classification=llama-chat=internal",
]


def test_given_too_few_new_records_when_the_job_runs_then_it_writes_nothing(
    fake_s3: S3Client, opa_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_s3.create_bucket(Bucket="acme-logs")
    _put(fake_s3, "captures/team=research/date=2026-12-05/model=llama-chat/b1.jsonl", [capture(i) for i in range(5)])
    argv = [*ONE_DAY, "--min-new-records=6"]
    assert main(argv, _env(OPA_URL=opa_url)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "below_threshold" and out["new"] == 5
    assert "Contents" not in fake_s3.list_objects_v2(Bucket="acme-datasets")


def test_given_opa_down_when_the_job_runs_then_it_fails_and_writes_nothing(
    fake_s3: S3Client, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_s3.create_bucket(Bucket="acme-logs")
    _put(fake_s3, "captures/team=research/date=2026-12-05/model=llama-chat/b1.jsonl", [capture(1)])
    argv = ONE_DAY
    with pytest.raises(OSError):
        main(argv, _env(OPA_URL="http://127.0.0.1:9"))
    assert "Contents" not in fake_s3.list_objects_v2(Bucket="acme-datasets")


def test_given_bad_flags_when_the_job_starts_then_it_exits_2_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-dataset", "--adapter=a", "--from=2026-13-01", "--to=2026-12-01"], {}) == 2
    assert 'expected a date like 2026-12-05, found "2026-13-01"' in capsys.readouterr().err
    argv = ["build-dataset", "--adapter=a", "--from=2026-12-01", "--to=2026-12-01"]
    assert main(argv, {}) == 2
    assert "expected SOVEREIGN_TEAM in the environment, found nothing" in capsys.readouterr().err


def test_given_days_instead_of_dates_when_parsed_then_the_window_ends_today_and_mixing_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt

    from sovereign_train.flywheel_cli import _window, build_parser

    a = build_parser().parse_args(["build-dataset", "--adapter=a", "--days=3"])
    assert _window(a, dt.date(2026, 12, 5)) == (dt.date(2026, 12, 3), dt.date(2026, 12, 5))
    assert main(["build-dataset", "--adapter=a", "--days=3", "--from=2026-12-01"], {"SOVEREIGN_TEAM": "t"}) == 2
    assert "expected either --days or --from/--to, found both" in capsys.readouterr().err


def test_given_an_opa_without_the_policy_when_asked_then_the_decider_fails_closed() -> None:
    import http.server
    import threading

    class Empty(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # OPA answers {} for an undefined document
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        d = OpaDecider(f"http://127.0.0.1:{srv.server_address[1]}")
        assert d("research", "captures/m", "public") == (False, ["no_decision"])
    finally:
        srv.shutdown()
