"""Run by test_sigterm.py: a job loop under the real SigtermGuard.

usage: sigterm_worker.py train|download <state-dir> <checkpoint-on-sigterm true|false>
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sovereign_train.checkpoint import SigtermGuard, checkpoint_dir_name, mark_complete

mode, state, enabled = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
guard = SigtermGuard(os.path.join(state, ".sovereign", "checkpoint-requested"), enabled).install()
if mode == "download":  # nothing to save yet: SIGTERM leaves at once
    print("ready", flush=True)
    # Short sleeps, like a download's chunks: one long sleep() would not wake up for a signal
    # that arrives after the interpreter's last check but before the sleep starts.
    for _ in range(3000):
        time.sleep(0.01)
    sys.exit(1)
step = 0
with guard.checkpointable():
    print("ready", flush=True)
    while not guard.requested:  # one "training step" per iteration
        step += 1
        time.sleep(0.01)
        if step > 3000:
            sys.exit(1)
    d = os.path.join(state, checkpoint_dir_name(step))
    os.makedirs(d)
    with open(os.path.join(d, "adapter_model.safetensors"), "w") as f:
        f.write(str(step))
    mark_complete(d, step)
guard.exit_if_requested()
sys.exit(0)
