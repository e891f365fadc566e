"""`sovereign-flywheel build-dataset|gate`: the flywheel's CPU stages, run as Jobs with the
trainer image in the team's namespace (docs/flywheel.md).

build-dataset
  Reads s3://<inference logs>/captures/team=<TEAM>/date=D/ for each day D in [--from, --to]
  (never another team's partition), builds the dataset (sovereign_train.flywheel_dataset) and,
  when at least --min-new-records kept records are newer than --after, writes
  DATASETS_URI/<version>/{train.jsonl,eval.jsonl,manifest.json}; the manifest goes up last and an
  existing version is never overwritten. Prints the manifest (or the below-threshold outcome)
  as JSON on stdout.

loop
  The chained run the team's CronJob starts (sovereign_train.flywheel_loop): build-dataset, then,
  only when enough new eligible records exist, LoRA fine-tune, quantize (--quantize), evaluate
  candidate and incumbent on the version's eval split, gate (--gate-thresholds). Exit 0 when
  below the threshold or a candidate passed the gate, 1 when it failed or a stage failed.

gate
  Compares the candidate's and the incumbent's metrics (sovereign_train.gate), prints the
  report, writes it to --report-uri when given, and exits 0 when it passes, 1 when it does not.

Bad input exits 2 with a message naming the flag or variable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import EXIT_BAD_INPUT, BadInput
from .cli import fraction_arg
from .flywheel_dataset import CLASSIFICATIONS, Builder, Decide, manifest, parse_lines
from .redact import Redactor
from .s3 import S3Uri, object_exists, parse_s3_uri

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

DECISION_PATH = "/v1/data/sovereign/data_access/decision"


class OpaDecider:
    """POSTs DataAccessInput (components/lib/contracts.ts) to OPA; one keep-alive connection."""

    def __init__(self, url: str, timeout: float = 5.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise BadInput(f'expected OPA_URL to be an http(s) URL, found "{url}"')
        self._u = u
        self._host: str = u.hostname
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._u.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._u.port, timeout=self._timeout)
        return self._conn

    def __call__(self, team: str, source: str, classification: str) -> tuple[bool, list[str]]:
        body = json.dumps(
            {"input": {"team": team, "action": "train", "dataset": {"name": source, "classification": classification}}}
        )
        for attempt in (1, 2):
            try:
                c = self._connection()
                c.request("POST", self._u.path.rstrip("/") + DECISION_PATH, body, {"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                self._conn = None
                if attempt == 2:
                    raise
        if r.status != 200:
            raise RuntimeError(f"OPA answered {r.status} for {DECISION_PATH}: {data[:200]!r}")
        result = json.loads(data).get("result")
        if not isinstance(result, dict) or not isinstance(result.get("allow"), bool):
            # No decision (policy not loaded): fail closed, never train on undecided data.
            return False, ["no_decision"]
        return result["allow"], [str(r) for r in result.get("reasons", [])]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a date like 2026-12-05, found "{text}"')


def _model_class(text: str) -> tuple[str, str]:
    name, _, cls = text.partition("=")
    if not name or cls not in CLASSIFICATIONS:
        raise argparse.ArgumentTypeError(
            f'expected MODEL=CLASSIFICATION with a classification of {list(CLASSIFICATIONS)}, found "{text}"'
        )
    return name, cls


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sovereign-flywheel", allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="{build-dataset,loop,gate}")
    b = sub.add_parser("build-dataset", help="captures -> versioned chat dataset", allow_abbrev=False)
    _dataset_args(b)
    lp = sub.add_parser("loop", help="dataset -> train -> [quantize] -> evaluate -> gate", allow_abbrev=False)
    _dataset_args(lp)
    lp.add_argument("--quantize", choices=("none", "fp8", "awq"), default="none")
    lp.add_argument("--gate-thresholds", default="{}", help="JSON of the team's flywheel.gate block")
    lp.add_argument("--max-steps", type=int, default=None, help="LoRA steps (default: the job's epochs)")
    lp.add_argument("--learning-rate", type=float, default=None, help="LoRA learning rate (default: the job's)")
    lp.add_argument("--base-model", default=None, help="served name of the base model (registry; default: $BASE_MODEL)")
    g = sub.add_parser("gate", help="candidate vs incumbent metrics -> pass / fail report", allow_abbrev=False)
    g.add_argument("--candidate", required=True, help="metrics JSON file of the candidate")
    g.add_argument("--incumbent", required=True, help="metrics JSON file of the incumbent")
    g.add_argument("--thresholds", required=True, help="JSON of the team's flywheel.gate block")
    g.add_argument("--report", default=None, help="write the report to this file too")
    return p


def _dataset_args(b: argparse.ArgumentParser) -> None:
    b.add_argument("--adapter", required=True)
    b.add_argument("--from", dest="from_date", type=_date, default=None)
    b.add_argument("--to", dest="to_date", type=_date, default=None)
    b.add_argument("--days", type=int, default=None, help="instead of --from/--to: the last N days up to today (UTC)")
    b.add_argument("--after", default=None, help="ISO time: only kept records newer count as new")
    b.add_argument("--min-new-records", type=int, default=1)
    b.add_argument("--eval-fraction", type=fraction_arg, default=0.1)
    b.add_argument("--redact-pattern", action="append", default=[])
    b.add_argument("--model-classification", type=_model_class, action="append", default=[])
    b.add_argument("--version", default=None, help="dataset version id (default: time + content hash)")


def _env(env: Mapping[str, str], name: str) -> str:
    v = env.get(name)
    if not v:
        raise BadInput(f"expected {name} in the environment, found nothing")
    return v


def _days(a: dt.date, b: dt.date) -> list[dt.date]:
    if b < a:
        raise BadInput(f"expected --to ({b}) on or after --from ({a})")
    if (b - a).days > 3660:
        raise BadInput(f"expected at most ten years between --from and --to, found {(b - a).days} days")
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


def _window(args: argparse.Namespace, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    if args.days is not None:
        if args.from_date or args.to_date:
            raise BadInput("expected either --days or --from/--to, found both")
        if not 1 <= args.days <= 3660:
            raise BadInput(f"expected --days between 1 and 3660, found {args.days}")
        end = today or dt.datetime.now(dt.timezone.utc).date()
        return end - dt.timedelta(days=args.days - 1), end
    if args.from_date is None or args.to_date is None:
        raise BadInput("expected --from and --to (dates like 2026-12-05), or --days, found neither")
    return args.from_date, args.to_date


def build_dataset(
    args: argparse.Namespace, env: Mapping[str, str], client: S3Client | None = None, decide: Decide | None = None
) -> dict[str, Any]:
    first, last = _window(args)
    team = _env(env, "SOVEREIGN_TEAM")
    captures = parse_s3_uri(_env(env, "CAPTURES_URI"), "CAPTURES_URI").as_prefix()
    out = parse_s3_uri(_env(env, "DATASETS_URI"), "DATASETS_URI").as_prefix()
    if client is None:
        from .s3 import client_from_env

        client = client_from_env(env)
    decide = decide or OpaDecider(_env(env, "OPA_URL"))
    redactor = Redactor(args.redact_pattern)
    scratch = tempfile.mkdtemp(prefix="dataset-", dir=env.get("SCRATCH_DIR") or None)
    # The deduplication indexes live in the scratch folder too: memory stays flat in N.
    b = Builder(team, decide, redactor, dict(args.model_classification), args.eval_fraction, args.after, scratch)
    try:
        return _build(args, b, client, captures, out, team, first, last, scratch)
    finally:
        b.close()


def _build(
    args: argparse.Namespace,
    b: Builder,
    client: S3Client,
    captures: S3Uri,
    out: S3Uri,
    team: str,
    first: dt.date,
    last: dt.date,
    scratch: str,
) -> dict[str, Any]:
    paths = {s: os.path.join(scratch, f"{s}.jsonl") for s in ("train", "eval")}
    hashes = {s: hashlib.sha256() for s in paths}
    counts = {s: 0 for s in paths}
    sources: list[str] = []
    with open(paths["train"], "wb") as ft, open(paths["eval"], "wb") as fe:
        files = {"train": ft, "eval": fe}
        for day in _days(first, last):
            part = captures.key + f"team={team}/date={day.isoformat()}/"
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=captures.bucket, Prefix=part)
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith(".jsonl"):
                        continue
                    sources.append(f"s3://{captures.bucket}/{key}")
                    body = client.get_object(Bucket=captures.bucket, Key=key)["Body"]
                    for rec in parse_lines(body.iter_lines(), lambda: None):
                        k = b.feed(rec)
                        if k is None:
                            continue
                        line = k.line
                        files[k.split].write(line)
                        hashes[k.split].update(line)
                        counts[k.split] += 1
    st = b.stats
    if st.new_kept < args.min_new_records:
        return {
            "outcome": "below_threshold",
            "new": st.new_kept,
            "min_new_records": args.min_new_records,
            "counts": {"read": st.read, "kept": st.kept},
            "exclusions": dict(sorted(st.excluded.items())),
        }
    files_meta: dict[str, dict[str, Any]] = {
        f"{s}.jsonl": {"sha256": hashes[s].hexdigest(), "records": counts[s], "bytes": os.path.getsize(paths[s])}
        for s in paths
    }
    content = hashlib.sha256("".join(files_meta[f]["sha256"] for f in sorted(files_meta)).encode()).hexdigest()
    if args.version is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", args.version):
        raise BadInput(f'expected --version to be letters, digits, ".", "_" or "-", found "{args.version}"')
    version = args.version or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + content[:12]
    dest = out.join(version).as_prefix()
    man_uri = dest.join("manifest.json")
    if object_exists(client, man_uri):
        raise BadInput(f"dataset version {dest} exists already: versions are immutable, pick another --version")
    m = manifest(
        b,
        version=version,
        team=team,
        adapter=args.adapter,
        sources=sources,
        files=files_meta,
        eval_fraction=args.eval_fraction,
    )
    m["outcome"] = "built"
    m["uri"] = str(dest)
    for s, path in paths.items():
        client.upload_file(path, dest.bucket, dest.key + f"{s}.jsonl")
    client.put_object(
        Bucket=dest.bucket, Key=man_uri.key, Body=json.dumps(m, indent=2).encode(), ContentType="application/json"
    )
    return m


def _read_json(path: str, flag: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"expected {flag} to name a readable JSON file, found {path!r} ({e})")


def run_gate(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from .gate import GateError, evaluate_gate

    try:
        report = evaluate_gate(
            _read_json(args.candidate, "--candidate"),
            _read_json(args.incumbent, "--incumbent"),
            _read_json(args.thresholds, "--thresholds"),
        )
    except GateError as e:
        raise BadInput(str(e))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return report, 0 if report["passed"] else 1


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return EXIT_BAD_INPUT if e.code not in (0, None) else 0
    try:
        if args.command == "build-dataset":
            print(json.dumps(build_dataset(args, env), indent=2))
            return 0
        if args.command == "loop":
            from .flywheel_loop import exit_code, real_stages, run_chain, write_record
            from .s3 import client_from_env

            client = client_from_env(env)
            record = run_chain(real_stages(args, env, client), args.quantize)
            record["record_uri"] = write_record(record, env, client)
            print(json.dumps(record, indent=2))
            return exit_code(record)
        report, code = run_gate(args)
        print(json.dumps(report, indent=2))
        return code
    except BadInput as e:
        for p in e.problems:
            print(f"sovereign-flywheel: {p}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
