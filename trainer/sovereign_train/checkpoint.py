"""Checkpoints under CHECKPOINT_URI and the SIGTERM handler.

Layout (the same as the HF Trainer's local output folder):

    <CHECKPOINT_URI>checkpoint-<step>/...               files of one checkpoint
    <CHECKPOINT_URI>checkpoint-<step>/SOVEREIGN_COMPLETE  written LAST, after every other file

A checkpoint without the marker was cut off mid-upload (the pod was killed) and is ignored.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from . import EXIT_TERMINATED, BadInput
from .s3 import S3Uri, list_keys, parse_s3_uri, sync_up

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

COMPLETE_MARKER = "SOVEREIGN_COMPLETE"
_CKPT = re.compile(r"^checkpoint-(\d+)/(.+)$")


def checkpoint_dir_name(step: int) -> str:
    return f"checkpoint-{step}"


def newest_complete_step(keys: Iterable[str]) -> int | None:
    """The highest step whose checkpoint has its completion marker, from keys relative to
    CHECKPOINT_URI; None when there is none."""
    complete: set[int] = set()
    for k in keys:
        m = _CKPT.match(k)
        if m and m.group(2) == COMPLETE_MARKER:
            complete.add(int(m.group(1)))
    return max(complete) if complete else None


def steps_to_prune(keys: Iterable[str], keep: int) -> list[int]:
    """Checkpoint steps (complete or cut off) older than the `keep` newest complete ones;
    nothing when keep is 0 or fewer than `keep` are complete."""
    steps: set[int] = set()
    complete: set[int] = set()
    for k in keys:
        m = _CKPT.match(k)
        if m:
            steps.add(int(m.group(1)))
            if m.group(2) == COMPLETE_MARKER:
                complete.add(int(m.group(1)))
    if keep <= 0 or len(complete) < keep:
        return []
    floor = sorted(complete)[-keep]
    return sorted(s for s in steps if s < floor)


def prune_checkpoints(client: S3Client, ckpt_uri: S3Uri, keep: int) -> list[int]:
    """Deletes the checkpoints `steps_to_prune` names; each marker goes first, so a checkpoint
    half deleted is never taken for a complete one."""
    keys = list(list_keys(client, ckpt_uri))
    pruned = steps_to_prune(keys, keep)
    prefix = ckpt_uri.as_prefix()
    for step in pruned:
        mine = [k for k in keys if k.startswith(checkpoint_dir_name(step) + "/")]
        mine.sort(key=lambda k: not k.endswith("/" + COMPLETE_MARKER))
        for k in mine:
            client.delete_object(Bucket=prefix.bucket, Key=prefix.key + k)
    return pruned


def newest_checkpoint(client: S3Client, ckpt_uri: S3Uri) -> S3Uri | None:
    step = newest_complete_step(list_keys(client, ckpt_uri))
    return None if step is None else ckpt_uri.join(checkpoint_dir_name(step)).as_prefix()


def resolve_resume(setting: str, client: S3Client, ckpt_uri: S3Uri | None) -> S3Uri | None:
    """RESUME_FROM_CHECKPOINT: `auto` (newest complete one, if any), `never`, or an s3:// URI
    of one checkpoint folder (it must be complete)."""
    if setting == "never":
        return None
    if setting == "auto":
        return None if ckpt_uri is None else newest_checkpoint(client, ckpt_uri)
    uri = parse_s3_uri(setting, "RESUME_FROM_CHECKPOINT").as_prefix()
    if COMPLETE_MARKER not in set(list_keys(client, uri)):
        raise BadInput(
            f'expected RESUME_FROM_CHECKPOINT to name a complete checkpoint, found "{setting}" '
            f"(no {COMPLETE_MARKER} below it)"
        )
    return uri


def mark_complete(local_ckpt_dir: str, step: int) -> None:
    with open(os.path.join(local_ckpt_dir, COMPLETE_MARKER), "w") as f:
        json.dump({"step": step, "time": time.time()}, f)


def upload_checkpoint(client: S3Client, local_ckpt_dir: str, ckpt_uri: S3Uri, step: int) -> S3Uri:
    """Uploads one local checkpoint folder to CHECKPOINT_URI/checkpoint-<step>/, marker last."""
    if not os.path.exists(os.path.join(local_ckpt_dir, COMPLETE_MARKER)):
        mark_complete(local_ckpt_dir, step)
    dest = ckpt_uri.join(checkpoint_dir_name(step)).as_prefix()
    sync_up(client, local_ckpt_dir, dest, last=[COMPLETE_MARKER])
    return dest


class Terminated(SystemExit):
    """Raised to leave after SIGTERM; exit code 143 so the Job does not count a success."""

    def __init__(self) -> None:
        super().__init__(EXIT_TERMINATED)


class SigtermGuard:
    """On SIGTERM: write a request marker, then
    - inside `checkpointable()` with CHECKPOINT_ON_SIGTERM=true: only set `requested`; the job
      saves a checkpoint at the next step boundary and calls `exit_if_requested()`;
    - otherwise: leave at once with exit code 143 (nothing worth saving yet).
    """

    def __init__(self, marker_path: str, enabled: bool = True, log: Callable[[str], None] | None = None) -> None:
        self.marker_path = marker_path
        self.enabled = enabled
        self.requested = False
        self._checkpointable = False
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def install(self) -> SigtermGuard:
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        saving = self.enabled and self._checkpointable
        os.makedirs(os.path.dirname(self.marker_path) or ".", exist_ok=True)
        with open(self.marker_path, "w") as f:
            json.dump({"signal": signum, "time": time.time(), "checkpoint": saving}, f)
        if saving:
            self._log("sovereign-train: SIGTERM: saving a checkpoint at the next step, then exiting")
            return
        self._log("sovereign-train: SIGTERM: nothing to checkpoint now, exiting")
        raise Terminated()

    @contextmanager
    def checkpointable(self) -> Iterator[None]:
        if self.requested:
            raise Terminated()
        self._checkpointable = True
        try:
            yield
        finally:
            self._checkpointable = False

    def exit_if_requested(self) -> None:
        if self.requested:
            self._log("sovereign-train: checkpoint saved after SIGTERM; exiting 143")
            raise Terminated()
