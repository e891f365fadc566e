"""`sovereign-train lora|quantize|eval`: argument and environment checks, then the job.

Bad input (a flag, an environment variable, a dataset line) exits with code 2 and a message
that names the flag or variable and quotes the bad value; the Job's podFailurePolicy then fails
the Job at once instead of retrying. SIGTERM exits with 143 after saving what can be saved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from . import EXIT_BAD_INPUT, EXIT_TERMINATED, BadInput, __version__
from .s3 import S3Uri, parse_s3_uri

KINDS = ("lora", "quantize", "eval")
SCHEMES = ("fp8", "awq")
#: team-dataset = perplexity + exact-match on the team's eval JSONL (DATASET_URI).
EVAL_TASKS = ("team-dataset", "perplexity", "exact-match", "safety")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


_Num = TypeVar("_Num", int, float)


def _positive(kind: type[_Num]) -> Callable[[str], _Num]:
    def parse(text: str) -> _Num:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a positive {kind.__name__}, found "{text}"')
        if not v > 0:
            raise argparse.ArgumentTypeError(f'expected a positive {kind.__name__}, found "{text}"')
        return v

    return parse


def _non_negative_int(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise argparse.ArgumentTypeError(f'expected a whole number (0 or more), found "{text}"')
    return int(text)


def fraction_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1), found "{text}"')
    return v


def _tasks(text: str) -> list[str]:
    tasks = [t for t in text.split(",") if t]
    if not tasks:
        raise argparse.ArgumentTypeError(f'expected a comma-separated list of tasks, found "{text}"')
    for t in tasks:
        if t not in EVAL_TASKS:
            raise argparse.ArgumentTypeError(f'expected tasks from [{", ".join(EVAL_TASKS)}], found "{t}" in "{text}"')
    return tasks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sovereign-train",
        description="Training runner of the sovereign platform. Inputs and outputs come from "
        "MODEL_URI, DATASET_URI, CHECKPOINT_URI and OUTPUT_URI (s3:// URIs).",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the arguments and the environment, print the plan as JSON, and stop",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{lora,quantize,eval}")

    lora = sub.add_parser("lora", help="LoRA fine-tune on a chat JSONL dataset (PEFT + HF Trainer)", allow_abbrev=False)
    lora.add_argument("--epochs", type=_positive(float), default=3.0)
    lora.add_argument("--max-steps", type=_positive(int), default=None, help="overrides --epochs")
    lora.add_argument("--learning-rate", type=_positive(float), default=2e-4)
    lora.add_argument("--lora-r", type=_positive(int), default=16)
    lora.add_argument("--lora-alpha", type=_positive(int), default=32)
    lora.add_argument("--lora-dropout", type=fraction_arg, default=0.05)
    lora.add_argument("--target-modules", default="all-linear", help='comma list or "all-linear"')
    lora.add_argument("--max-seq-length", type=_positive(int), default=2048)
    lora.add_argument("--batch-size", type=_positive(int), default=1, help="per device")
    lora.add_argument("--grad-accum", type=_positive(int), default=8)
    lora.add_argument("--save-steps", type=_positive(int), default=200)
    lora.add_argument(
        "--keep-checkpoints",
        type=_non_negative_int,
        default=2,
        help="complete checkpoints kept under CHECKPOINT_URI (older ones are deleted; 0 keeps all)",
    )

    q = sub.add_parser("quantize", help="llm-compressor one-shot quantization (fp8 or awq)", allow_abbrev=False)
    q.add_argument("--scheme", choices=SCHEMES, default="fp8", help="fp8: FP8 dynamic; awq: W4A16")
    q.add_argument("--calibration-samples", type=_positive(int), default=256)
    q.add_argument("--max-seq-length", type=_positive(int), default=2048)

    e = sub.add_parser("eval", help="perplexity / exact match on a team eval JSONL", allow_abbrev=False)
    e.add_argument("--tasks", type=_tasks, default=["team-dataset"], help=",".join(EVAL_TASKS))
    e.add_argument("--max-new-tokens", type=_positive(int), default=256)
    e.add_argument("--max-samples", type=_positive(int), default=None)
    return p


@dataclass(frozen=True)
class JobEnv:
    kind: str
    job_name: str
    model: S3Uri
    dataset: S3Uri | None
    checkpoints: S3Uri | None
    output: S3Uri
    resume: str
    checkpoint_on_sigterm: bool
    scratch: str


def _bool(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    problems.append(f'expected {name} to be true or false, found "{raw}"')
    return default


def job_env(args: argparse.Namespace, env: Mapping[str, str]) -> JobEnv:
    """Checks the environment of a job; raises BadInput with every problem at once."""
    kind = args.command
    problems: list[str] = []

    def uri(name: str, required: bool) -> S3Uri | None:
        raw = env.get(name)
        if raw is None or raw == "":
            if required:
                problems.append(f"expected {name} (an s3:// URI) for a {kind} job, found nothing")
            return None
        try:
            return parse_s3_uri(raw, name)
        except BadInput as e:
            problems.extend(e.problems)
            return None

    declared = env.get("SOVEREIGN_JOB_KIND")
    if declared not in (None, "", kind):
        problems.append(f'expected SOVEREIGN_JOB_KIND to match the command "{kind}", found "{declared}"')
    name = env.get("SOVEREIGN_JOB_NAME") or "local"
    if not _DNS_LABEL.match(name):
        problems.append(f'expected SOVEREIGN_JOB_NAME to be a DNS label, found "{name}"')
    needs_dataset = kind in ("lora", "eval") or (kind == "quantize" and args.scheme == "awq")
    model = uri("MODEL_URI", True)
    dataset = uri("DATASET_URI", needs_dataset)
    if needs_dataset and kind == "quantize" and dataset is None and not env.get("DATASET_URI"):
        problems[-1] += " (AWQ calibrates on the team's chat JSONL)"
    checkpoints = uri("CHECKPOINT_URI", kind == "lora")
    output = uri("OUTPUT_URI", True)
    if dataset is not None and dataset.is_prefix:
        problems.append(f'expected DATASET_URI to name one JSONL object, found the prefix "{dataset}"')
    if model is not None and output is not None:
        m, o = model.as_prefix(), output.as_prefix()
        if m.bucket == o.bucket and (m.key.startswith(o.key) or o.key.startswith(m.key)):
            problems.append(f'expected OUTPUT_URI apart from MODEL_URI "{model}", found "{output}"')
    resume = env.get("RESUME_FROM_CHECKPOINT") or "auto"
    if resume not in ("auto", "never"):
        try:
            parse_s3_uri(resume, "RESUME_FROM_CHECKPOINT")
        except BadInput:
            problems.append(f'expected RESUME_FROM_CHECKPOINT to be auto, never or an s3:// URI, found "{resume}"')
    on_sigterm = _bool(env, "CHECKPOINT_ON_SIGTERM", True, problems)
    _bool(env, "S3_FORCE_PATH_STYLE", False, problems)
    endpoint = env.get("AWS_ENDPOINT_URL_S3")
    if endpoint and not re.match(r"^https?://[^\s/]+", endpoint):
        problems.append(f'expected AWS_ENDPOINT_URL_S3 to be an http(s) URL, found "{endpoint}"')
    scratch = env.get("SOVEREIGN_SCRATCH") or env.get("HOME") or ""
    if not os.path.isabs(scratch):
        problems.append(f'expected HOME (the scratch volume) to be an absolute path, found "{scratch}"')
    if problems:
        raise BadInput(problems)
    assert model is not None and output is not None
    return JobEnv(kind, name, model, dataset, checkpoints, output, resume, on_sigterm, scratch)


def plan(args: argparse.Namespace, je: JobEnv) -> dict[str, Any]:
    out = {k: (str(v) if isinstance(v, S3Uri) else v) for k, v in asdict(je).items()}
    for k in ("model", "dataset", "checkpoints", "output"):
        out[k] = None if getattr(je, k) is None else str(getattr(je, k))
    out["args"] = {k: v for k, v in vars(args).items() if k not in ("command", "dry_run")}
    return out


def _report_bad_input(e: BadInput) -> int:
    print("sovereign-train: bad input (exit 2, not retried):", file=sys.stderr)
    for p in e.problems:
        print(f"  - {p}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)  # argparse exits with code 2 on a bad flag
    try:
        je = job_env(args, env)
    except BadInput as e:
        return _report_bad_input(e)
    if args.dry_run:
        print(json.dumps(plan(args, je), sort_keys=True))
        return 0
    # Never reach a model hub from a job (air-gapped clusters): weights come from MODEL_URI.
    if environ is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .checkpoint import SigtermGuard, Terminated

    guard = SigtermGuard(os.path.join(je.scratch, ".sovereign", "checkpoint-requested"), je.checkpoint_on_sigterm)
    guard.install()
    try:
        if je.kind == "lora":
            from .lora import run
        elif je.kind == "quantize":
            from .quantize import run
        else:
            from .evaluate import run
        run(args, je, env, guard)
    except BadInput as e:
        return _report_bad_input(e)
    except Terminated:
        return EXIT_TERMINATED
    return 0


if __name__ == "__main__":
    sys.exit(main())
