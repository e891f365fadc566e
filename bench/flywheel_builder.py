"""One measured run of the flywheel's dataset builder (used by bench/flywheel.ts).

Usage: flywheel_builder.py generate N FILE   -> writes N synthetic capture records (JSONL)
       flywheel_builder.py build FILE OPA_URL -> builds from FILE with OPA decisions; prints JSON

The build runs the same code path as the job's inner loop (parse, select, OPA per distinct
tuple, RE2 re-redaction, dedup, split, serialise and hash the kept lines into scratch files);
only the object-store reads are replaced by a local file. Peak memory is the process's max RSS.
"""

import hashlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))

WORDS = ("invoice refund account order shipping delay password reset contract renewal upgrade "
         "plan discount warranty return label address billing cycle support ticket escalation").split()


def generate(n: int, path: str) -> None:
    rnd = random.Random(42)
    models = [("llama-chat", "internal"), ("llama-chat-large", "internal"), ("mistral-chat", "confidential")]
    with open(path, "w") as f:
        for i in range(n):
            r = rnd.random()
            j = i if r < 0.9 else rnd.randrange(max(1, i))  # ~10 % exact or near repeats
            rj = random.Random(j)
            q = " ".join(rj.choice(WORDS) for _ in range(40)) + f" #{j}"
            if 0.95 <= r:
                q = q.upper()  # near duplicate
            model, cls = models[j % 3]
            rec = {
                "ts": f"2026-12-05T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                "requestId": f"req-{i}", "team": "research", "subject": "alice", "model": model,
                "endpoint": "/v1/chat/completions", "classification": cls,
                "request": {"model": model, "messages": [
                    {"role": "system", "content": "You are a helpful support assistant."},
                    {"role": "user", "content": q + (" mail me at bob@example.com" if i % 50 == 0 else "")}]},
                "response": {"choices": [{"index": 0, "message": {"role": "assistant",
                                                                   "content": " ".join(reversed(q.split()))}}]},
                "usage": {"promptTokens": 60, "completionTokens": 45},
            }
            if i % 97 == 0:
                rec["trainingConsent"] = False
            if i % 101 == 0:
                rec["guardFlagged"] = True
            f.write(json.dumps(rec) + "\n")


def build(path: str, opa_url: str) -> None:
    from sovereign_train.flywheel_cli import OpaDecider
    from sovereign_train.flywheel_dataset import Builder, parse_lines
    from sovereign_train.redact import Redactor

    scratch = tempfile.mkdtemp(prefix="bench-dataset-")
    b = Builder("research", OpaDecider(opa_url), Redactor(), {}, 0.1, scratch=scratch)
    hashes = {"train": hashlib.sha256(), "eval": hashlib.sha256()}
    t0 = time.perf_counter()
    c0 = time.process_time()
    with open(path, "rb") as src, open(os.path.join(scratch, "train.jsonl"), "wb") as ft, \
            open(os.path.join(scratch, "eval.jsonl"), "wb") as fe:
        out = {"train": ft, "eval": fe}
        for rec in parse_lines(src, lambda: None):
            k = b.feed(rec)
            if k is None:
                continue
            line = k.line
            out[k.split].write(line)
            hashes[k.split].update(line)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    b.close()
    shutil.rmtree(scratch, ignore_errors=True)
    st = b.stats
    print(json.dumps({
        "records": st.read, "kept": st.kept, "seconds": secs, "records_per_s": st.read / secs, "cpu_seconds": cpu, "records_per_cpu_s": st.read / cpu,
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "opa_decisions": b.policy.calls, "excluded": st.excluded,
        "dedup_lookups": b._exact.lookups + b._near.lookups,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), sys.argv[3])
    else:
        build(sys.argv[2], sys.argv[3])
