"""`sovereign-flywheel loop`: the flywheel's chained run (docs/flywheel.md), what the team's
CronJob starts:

    dataset --(enough new eligible records)--> train --> [quantize] --> evaluate --> gate
      --> register --> canary --> promoted | rolled_back

Each transition is an audit event ({"type": "flywheel.stage.transition", "from", "to",
"reason", "at", ...}) in the run record. A run stops at the first stage that does not go on:
too few new records (`below_threshold`, nothing trained, exit 0), a failing gate (`rejected`,
registered with its report, exit 1), a rolled-back canary (`rolled_back`, exit 1) or a stage
that fails (`failed`, exit 1); a promoted candidate exits 0. The record (dataset version,
candidate URI and content hash, gate report, events) is printed and written to
CANDIDATES_URI/<dataset version>/run.json.

Register and canary are the controller's (gateway/src/flywheel/controller-cli.ts: PostgreSQL,
the model servers' LoRA endpoints, the gateway's per-version audit rows), a separate program
named by FLYWHEEL_CONTROLLER (a command line); the run record goes to it on stdin. Without
FLYWHEEL_CONTROLLER the run ends at `candidate` (exit 0) with run.json written: in a deployed
stack the team's controller CronJob (`controller-cli from-store`) registers and canaries it, and
the promoted version to evaluate against comes from FLYWHEEL_INCUMBENT_FILE, which the chain's
init container writes with `controller-cli incumbent` before the GPU work starts.

`run_chain` is pure orchestration over injected stages, so its transitions are tested without
a model; `real_stages` runs the kit's own jobs (sovereign_train.cli lora|quantize|eval) in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import BadInput

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

TRANSITION = "flywheel.stage.transition"


@dataclass(frozen=True)
class Stages:
    """The chain's stages. Each returns a JSON-able dict or raises."""

    dataset: Callable[[], dict[str, Any]]
    train: Callable[[dict[str, Any]], dict[str, Any]]  # dataset manifest -> {"uri": candidate adapter}
    quantize: Callable[[dict[str, Any], str], dict[str, Any]]  # candidate, scheme -> {"uri": compressed variant}
    evaluate: Callable[[str, dict[str, Any]], dict[str, Any]]  # "candidate" | "incumbent", dataset -> metrics
    gate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]  # candidate metrics, incumbent metrics -> report
    # The promoted version the candidate is compared with: {"version", "uri"} (both None: the base model).
    incumbent: Callable[[], dict[str, Any]] | None = None
    register: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # run record -> registry answer
    canary: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # run record -> final canary state
    meta: Mapping[str, Any] | None = None  # team, adapter, base model: copied into the run record


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_chain(
    stages: Stages, quantize: str = "none", now: Callable[[], str] = _now, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Runs the stages in order; returns the run record with one event per transition."""
    events: list[dict[str, Any]] = []
    record: dict[str, Any] = {
        "kind": "sovereign.flywheel.run/v1",
        **(stages.meta or {}),
        **(meta or {}),
        "events": events,
    }

    def move(frm: str, to: str, reason: str, **detail: Any) -> None:
        events.append({"type": TRANSITION, "from": frm, "to": to, "reason": reason, "at": now(), **detail})

    stage = "dataset"
    try:
        ds = stages.dataset()
        if ds.get("outcome") == "below_threshold":
            move("dataset", "idle", "below_threshold", new=ds.get("new"), min_new_records=ds.get("min_new_records"))
            record.update(outcome="below_threshold", dataset=ds)
            return record
        record["dataset"] = {k: ds.get(k) for k in ("version", "uri", "content_sha256", "classification", "counts")}
        move("dataset", "train", "built", version=ds.get("version"), kept=(ds.get("counts") or {}).get("kept"))
        stage = "train"
        cand = stages.train(ds)
        record["candidate"] = cand
        nxt = "quantize" if quantize != "none" else "evaluate"
        move("train", nxt, "trained", uri=cand.get("uri"))
        if quantize != "none":
            stage = "quantize"
            record["quantized"] = stages.quantize(cand, quantize)
            move("quantize", "evaluate", "quantized", scheme=quantize, uri=record["quantized"].get("uri"))
        stage = "evaluate"
        record["incumbent"] = stages.incumbent() if stages.incumbent else {"version": None, "uri": None}
        mc = stages.evaluate("candidate", ds)
        mi = stages.evaluate("incumbent", ds)
        record["metrics"] = {"candidate": mc, "incumbent": mi}
        move("evaluate", "gate", "evaluated")
        stage = "gate"
        report = stages.gate(mc, mi)
        record["gate"] = report
        passed = report.get("passed") is True
        failed = [c["check"] for c in report.get("checks", []) if not c.get("passed")]
        move("gate", "candidate" if passed else "rejected", "gate_passed" if passed else "gate_failed", failed=failed)
        record["outcome"] = "candidate" if passed else "rejected"
        if stages.register is None:
            return record
        stage = "register"
        record["registry"] = stages.register(dict(record))
        if not passed or stages.canary is None:
            return record
        move("candidate", "canary", "registered", version=(record.get("candidate") or {}).get("version"))
        stage = "canary"
        final = stages.canary(dict(record))
        phase = final.get("phase")
        if phase not in ("promoted", "rolled_back"):
            raise RuntimeError(f"expected the canary to end promoted or rolled_back, found {phase!r}")
        move("canary", phase, final.get("reason") or "window_passed", totals=final.get("totals"))
        record["canary"] = final
        record["outcome"] = phase
        return record
    except BadInput:
        raise
    except Exception as e:  # noqa: BLE001 -- any stage failure ends the run and is recorded
        move(stage, "failed", f"{stage}_failed", error=f"{type(e).__name__}: {e}"[:500])
        record["outcome"] = "failed"
        return record


def exit_code(record: Mapping[str, Any]) -> int:
    return 0 if record.get("outcome") in ("below_threshold", "candidate", "promoted") else 1


def real_stages(args: argparse.Namespace, env: Mapping[str, str], client: S3Client | None = None) -> Stages:
    """The kit's own jobs, in this process: the dataset builder, then sovereign-train lora,
    quantize and eval with the environment each job expects (sovereign_train.cli.job_env)."""
    from . import cli
    from .common import MANIFEST
    from .flywheel_cli import build_dataset
    from .gate import evaluate_gate
    from .s3 import parse_s3_uri

    if client is None:
        from .s3 import client_from_env

        client = client_from_env(env)
    base = env.get("BASE_MODEL_URI") or ""
    candidates = env.get("CANDIDATES_URI") or ""
    if not base or not candidates:
        raise BadInput("expected BASE_MODEL_URI and CANDIDATES_URI in the environment (the flywheel-env ConfigMap)")
    cand_root = parse_s3_uri(candidates, "CANDIDATES_URI").as_prefix()
    scratch = env.get("SCRATCH_DIR") or env.get("HOME") or "/tmp"
    try:
        thresholds = json.loads(args.gate_thresholds)
    except ValueError as e:
        raise BadInput(f"expected --gate-thresholds to be JSON, found {args.gate_thresholds!r} ({e})")
    state: dict[str, Any] = {}
    controller = shlex.split(env.get("FLYWHEEL_CONTROLLER") or "")
    # In a deployed stack the chain's init container wrote the promoted version here
    # (`controller-cli incumbent ADAPTER > $FLYWHEEL_INCUMBENT_FILE`); it wins over the controller.
    incumbent_file = env.get("FLYWHEEL_INCUMBENT_FILE") or ""
    team = env.get("SOVEREIGN_TEAM") or ""
    meta = {
        "team": team,
        "adapter": args.adapter,
        "baseModel": getattr(args, "base_model", None) or env.get("BASE_MODEL") or "",
    }
    if controller and not meta["baseModel"]:
        raise BadInput(
            "expected --base-model (the served base model's name) when FLYWHEEL_CONTROLLER registers candidates"
        )

    def control(command: list[str], record: Mapping[str, Any] | None) -> tuple[int, dict[str, Any]]:
        """Runs the controller with the run record on stdin; its last stdout line is JSON."""
        r = subprocess.run(
            [*controller, *command],
            input=json.dumps(record or {}),
            capture_output=True,
            text=True,
            env=dict(env),
            check=False,
        )
        sys.stderr.write(r.stderr)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        if r.returncode not in (0, 1) or not lines:
            raise RuntimeError(f"flywheel controller {command[0]} exited {r.returncode}: {r.stderr.strip()[-500:]}")
        return r.returncode, dict(json.loads(lines[-1]))

    def job(kind: str, argv: list[str], **uris: str) -> None:
        # Each job its own scratch: jobs download models into fixed folders under HOME, and a
        # folder left by the previous job (an adapter next to the base model's files) would be
        # loaded as part of the next job's model. Removed after the job.
        home = tempfile.mkdtemp(prefix=f"{kind}-", dir=scratch)
        je = {
            **env,
            "SOVEREIGN_JOB_KIND": kind,
            "SOVEREIGN_JOB_NAME": f"flywheel-{kind}",
            "HOME": home,
            "SOVEREIGN_SCRATCH": home,
        }
        je.update(uris)
        try:
            # the libraries print progress on stdout, which carries only the run record
            with contextlib.redirect_stdout(sys.stderr):
                code = cli.main([kind, *argv], je)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if code != 0:
            raise RuntimeError(f"sovereign-train {kind} exited {code}")

    def dataset() -> dict[str, Any]:
        m = build_dataset(args, env, client=client)
        state["ds"] = m
        return m

    def train(ds: dict[str, Any]) -> dict[str, Any]:
        out = cand_root.join(ds["version"]).as_prefix()
        state["cand"] = str(out.join("adapter").as_prefix())
        job(
            "lora",
            ([f"--max-steps={args.max_steps}"] if args.max_steps else [])
            + ([f"--learning-rate={args.learning_rate}"] if getattr(args, "learning_rate", None) else []),
            MODEL_URI=base,
            DATASET_URI=ds["uri"] + "train.jsonl",
            CHECKPOINT_URI=str(out.join("checkpoints").as_prefix()),
            OUTPUT_URI=state["cand"],
        )
        return {"uri": state["cand"], "version": ds["version"], "content_sha256": content_sha256(client, state["cand"])}

    def quantize(cand: dict[str, Any], scheme: str) -> dict[str, Any]:
        out = str(cand_root.join(state["ds"]["version"]).join(f"quantized-{scheme}").as_prefix())
        job(
            "quantize",
            [f"--scheme={scheme}"],
            MODEL_URI=cand["uri"],
            DATASET_URI=state["ds"]["uri"] + "train.jsonl",
            OUTPUT_URI=out,
        )
        return {"uri": out}

    def incumbent() -> dict[str, Any]:
        if incumbent_file:
            inc = read_incumbent_file(incumbent_file)
        elif controller:
            _, inc = control(["incumbent", args.adapter], None)
        else:
            inc = {"version": None, "uri": env.get("INCUMBENT_MODEL_URI") or None}
        state["incumbent"] = inc.get("uri") or base
        return inc

    def evaluate(who: str, ds: dict[str, Any]) -> dict[str, Any]:
        out = cand_root.join(ds["version"]).join(f"eval-{who}").as_prefix()
        model = (
            state["cand"] if who == "candidate" else state.get("incumbent") or env.get("INCUMBENT_MODEL_URI") or base
        )
        # the held-out split and the fixed safety set, screened by the guard model (GUARD_URL)
        job(
            "eval",
            ["--tasks=perplexity,exact-match,safety", "--max-new-tokens=32"],
            MODEL_URI=model,
            DATASET_URI=ds["uri"] + "eval.jsonl",
            OUTPUT_URI=str(out),
        )
        body = client.get_object(Bucket=out.bucket, Key=out.key + MANIFEST)["Body"].read()
        metrics = dict(json.loads(body)["metrics"])
        metrics["eval_sha256"] = ds["files"]["eval.jsonl"]["sha256"]
        return metrics

    def gate(mc: dict[str, Any], mi: dict[str, Any]) -> dict[str, Any]:
        from .gate import GateError

        try:
            return evaluate_gate(mc, mi, thresholds)
        except GateError as e:
            raise BadInput(str(e))

    def register(record: dict[str, Any]) -> dict[str, Any]:
        return control(["register"], record)[1]

    def canary(record: dict[str, Any]) -> dict[str, Any]:
        return control(["canary"], record)[1]

    return Stages(
        dataset,
        train,
        quantize,
        evaluate,
        gate,
        incumbent=incumbent,
        register=register if controller else None,
        canary=canary if controller else None,
        meta=meta,
    )


def read_incumbent_file(path: str) -> dict[str, Any]:
    """The promoted version the controller's `incumbent` command wrote ({"version", "uri"}, both
    null before a first promotion). Read before any GPU work; a missing or malformed file is bad
    input, named, never a silent comparison with the base model."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    except OSError as e:
        raise BadInput(f"FLYWHEEL_INCUMBENT_FILE: cannot read {path} ({e.strerror})")
    try:
        inc = json.loads(lines[-1]) if lines else None
    except ValueError as e:
        raise BadInput(
            f"FLYWHEEL_INCUMBENT_FILE: expected the controller's JSON in {path}, found {lines[-1][:200]!r} ({e})"
        )
    if not isinstance(inc, dict) or set(inc) != {"version", "uri"}:
        raise BadInput(f'FLYWHEEL_INCUMBENT_FILE: expected {{"version", "uri"}} in {path}, found {inc!r}'[:500])
    version, uri = inc["version"], inc["uri"]
    if (version is None) != (uri is None) or not all(v is None or isinstance(v, str) and v for v in (version, uri)):
        raise BadInput(
            f"FLYWHEEL_INCUMBENT_FILE: expected version and uri both strings or both null in {path}, found {inc!r}"
        )
    if uri is not None and not uri.startswith("s3://"):
        raise BadInput(f"FLYWHEEL_INCUMBENT_FILE: expected uri to be an s3:// URI in {path}, found {uri!r}")
    return {"version": version, "uri": uri}


def content_sha256(client: S3Client, uri: str) -> str:
    """The content hash of the objects under a prefix: SHA-256 over "<key> <sha256>\\n" sorted by key."""
    from .s3 import list_keys, parse_s3_uri

    root = parse_s3_uri(uri).as_prefix()
    lines = []
    for key in sorted(list_keys(client, root)):
        h = hashlib.sha256()
        for chunk in client.get_object(Bucket=root.bucket, Key=root.key + key)["Body"].iter_chunks(1 << 20):
            h.update(chunk)
        lines.append(f"{key} {h.hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def write_record(record: Mapping[str, Any], env: Mapping[str, str], client: S3Client) -> str | None:
    """Puts the run record next to the candidate (never overwriting one)."""
    from .s3 import object_exists, parse_s3_uri

    ds = record.get("dataset") or {}
    if not ds.get("version") or not env.get("CANDIDATES_URI"):
        return None
    uri = (
        parse_s3_uri(env["CANDIDATES_URI"], "CANDIDATES_URI")
        .as_prefix()
        .join(ds["version"])
        .as_prefix()
        .join("run.json")
    )
    if object_exists(client, uri):
        raise BadInput(f"run record {uri} exists already: runs are immutable")
    client.put_object(
        Bucket=uri.bucket, Key=uri.key, Body=json.dumps(record, indent=2).encode(), ContentType="application/json"
    )
    return str(uri)


__all__ = [
    "TRANSITION",
    "Stages",
    "content_sha256",
    "exit_code",
    "read_incumbent_file",
    "real_stages",
    "run_chain",
    "write_record",
]
