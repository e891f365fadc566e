import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sovereign_train.checkpoint import COMPLETE_MARKER

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sigterm_worker.py")


def run_worker(mode: str, state: Path, enabled: str = "true") -> tuple[int, str, dict[str, Any], list[str]]:
    p = subprocess.Popen(
        [sys.executable, WORKER, mode, str(state), enabled],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("worker did not exit after SIGTERM")
    marker = json.loads((state / ".sovereign" / "checkpoint-requested").read_text())
    ckpts = sorted(d for d in os.listdir(state) if d.startswith("checkpoint-"))
    return p.returncode, err, marker, ckpts


def test_given_a_training_loop_when_sigterm_arrives_then_it_saves_a_complete_checkpoint_and_exits_143(
    tmp_path: Path,
) -> None:
    rc, err, marker, ckpts = run_worker("train", tmp_path)
    # 143, not 0: a 0 would complete the Job; the Job's next pod resumes from this checkpoint.
    assert rc == 143, err
    assert marker["signal"] == signal.SIGTERM and marker["checkpoint"] is True
    assert len(ckpts) == 1 and (tmp_path / ckpts[0] / COMPLETE_MARKER).exists()
    assert "saving a checkpoint" in err


def test_given_no_checkpointable_work_when_sigterm_arrives_then_it_exits_143_at_once(tmp_path: Path) -> None:
    rc, err, marker, ckpts = run_worker("download", tmp_path)
    assert rc == 143 and marker["checkpoint"] is False and ckpts == []
    assert "nothing to checkpoint" in err


def test_given_checkpoint_on_sigterm_false_when_sigterm_arrives_then_it_exits_143_without_saving(
    tmp_path: Path,
) -> None:
    rc, _, marker, ckpts = run_worker("train", tmp_path, enabled="false")
    assert rc == 143 and marker["checkpoint"] is False and ckpts == []
