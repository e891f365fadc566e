"""The flywheel's dataset builder (docs/flywheel.md): the team's capture records in, a versioned,
immutable chat dataset out (train.jsonl, eval.jsonl, manifest.json).

Each record goes through these steps, in order; the first that fails excludes it and its reason
is counted in the manifest:

1. `malformed`: not a JSON object with the gateway's capture fields (gateway/src/capture.ts);
2. `team_mismatch`: a record of another team (the builder only ever reads its own team=
   partition, so this is a defence in depth);
3. `consent_opt_out`: the request opted out of training (`trainingConsent: false`, set by the
   gateway from a header or token claim; it wins over the team's default; the gateway writes
   such a record without content);
4. `guard_flagged`: the guard flagged the answer (`guardFlagged: true`, also without content);
5. `not_chat`: not a chat completion with a text answer (embeddings, tool calls, empty answer);
6. `classification_unknown`: neither the record nor the job's model map names a classification;
7. `policy:<reason>`: OPA's `sovereign.data_access` decision for (team, action "train",
   dataset "captures/<model>", classification) denied it; the reason ids are OPA's. One
   decision per distinct (source, classification), cached for the run;
8. re-redaction with linear-time patterns (sovereign_train.redact), then
   `duplicate_exact` (the same conversation, byte for byte) and `duplicate_near` (the same
   conversation after case folding, whitespace and punctuation are normalised away).

Kept records are split into train / eval by a hash of their (redacted) conversation, so a record
lands on the same side in every build, whatever the order or the other records.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .redact import Redactor

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
CHAT_ENDPOINT = "/v1/chat/completions"
#: Decides (team, source, classification) -> (allow, reasons). OPA's data_access in production.
Decide = Callable[[str, str, str], "tuple[bool, list[str]]"]

_REQUIRED = ("ts", "requestId", "team", "model", "endpoint", "request", "response")
#: ASCII whitespace and punctuation, dropped from the near-duplicate key (bytes.translate, in C).
_FOLD_DELETE = bytes(c for c in range(128) if not chr(c).isalnum())


@dataclass(frozen=True)
class Kept:
    messages: list[dict[str, str]]
    line: bytes  # the dataset line: {"messages": [...]} (canonical JSON) and a newline
    digest: str  # sha256 hex of the canonical redacted conversation
    split: str  # "train" | "eval"
    classification: str
    ts: str


@dataclass
class Stats:
    read: int = 0
    kept: int = 0
    train: int = 0
    eval: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    first_ts: str | None = None
    last_ts: str | None = None
    new_kept: int = 0  # kept records newer than the `after` watermark
    classifications: dict[str, int] = field(default_factory=dict)
    policy_decisions: int = 0

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1


def _text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of an OpenAI content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        texts = [t for t in parts if isinstance(t, str)]
        if parts and len(texts) == len(parts) == len(content):
            return "".join(texts)
    return None


def chat_of(request: Any, response: Any) -> list[dict[str, str]] | None:
    """The trainer's chat format ({role, content} strings, last one the assistant's answer) of a
    captured chat completion, or None when the record is not a plain text chat."""
    if not isinstance(request, dict) or not isinstance(response, dict):
        return None
    msgs = request.get("messages")
    choices = response.get("choices")
    if not isinstance(msgs, list) or not msgs or not isinstance(choices, list) or not choices:
        return None
    out: list[dict[str, str]] = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            return None
        t = _text(m.get("content"))
        if t is None:
            return None
        out.append({"role": m["role"], "content": t})
    first = choices[0]
    answer = first.get("message") if isinstance(first, dict) else None
    content = answer.get("content") if isinstance(answer, dict) else None
    if not isinstance(content, str) or not content.strip():
        return None
    out.append({"role": "assistant", "content": content})
    return out


_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def canonical(messages: list[dict[str, str]]) -> bytes:
    return _CANONICAL(messages).encode()


def near_key(messages: list[dict[str, str]]) -> int:
    """The conversation with Unicode compatibility forms (NFKC), case, ASCII whitespace and
    ASCII punctuation folded away: "What is 1 plus 1?" and "what IS 1plus 1 ?!" are one key."""
    h = hashlib.blake2b(digest_size=8)
    for m in messages:
        t = unicodedata.normalize("NFKC", m["content"]).casefold().encode()
        h.update(m["role"][0].encode() + t.translate(None, _FOLD_DELETE) + b"\x1e")
    return int.from_bytes(h.digest(), "little")


def split_of(digest_hex: str, eval_fraction: float) -> str:
    """eval when the first 8 hex digits of the record hash fall under the fraction."""
    return "eval" if int(digest_hex[:8], 16) < eval_fraction * 0x100000000 else "train"


class PolicyCache:
    """One OPA decision per distinct (team, source, classification)."""

    def __init__(self, decide: Decide):
        self._decide = decide
        self._cache: dict[tuple[str, str, str], tuple[bool, list[str]]] = {}
        self.calls = 0

    def __call__(self, team: str, source: str, classification: str) -> tuple[bool, list[str]]:
        k = (team, source, classification)
        d = self._cache.get(k)
        if d is None:
            self.calls += 1
            d = self._cache[k] = self._decide(team, source, classification)
        return d


class SeenKeys:
    """A set of 64-bit keys whose memory does not grow with the number of keys: exact, never
    approximate (a duplicate is never missed, a new key is never taken for one).

    - a Bloom filter of `bloom_bits` bits (2 probes) answers "certainly new" for most keys;
    - keys added since the last flush wait in a set of at most `batch` keys;
    - every key is kept in an SQLite table in a scratch file (page cache capped at
      `cache_kib`), which decides every key the filter cannot.

    Bound: bloom_bits/8 bytes + `batch` keys + `cache_kib` KiB of memory, whatever the count (the
    builder's defaults: 8 MiB + 4096 keys + 4 MiB per index); the disk file grows by about
    16 bytes per key. The filter's false-positive rate only costs lookups: about 2 % at 5 million
    keys with the default size, each answered by the table.
    """

    def __init__(
        self, directory: str | None = None, bloom_bits: int = 1 << 26, batch: int = 4096, cache_kib: int = 4096
    ):
        if bloom_bits < 64 or bloom_bits & (bloom_bits - 1):
            raise ValueError(f"expected bloom_bits to be a power of two >= 64, found {bloom_bits}")
        self._bits = bytearray(bloom_bits >> 3)
        self._mask = bloom_bits - 1
        self._shift = bloom_bits.bit_length() - 1
        self._batch = batch
        self._pending: set[int] = set()
        fd, self._path = tempfile.mkstemp(prefix="seen-", suffix=".sqlite", dir=directory)
        os.close(fd)
        self._db = sqlite3.connect(self._path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE", f"cache_size=-{cache_kib}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE k (key INTEGER PRIMARY KEY)")
        self.lookups = 0  # keys the filter could not decide

    def add(self, key: int) -> bool:
        """Adds a 64-bit key (unsigned); True when it was not in the set before."""
        bits = self._bits
        a = key & self._mask
        b = (key >> self._shift) & self._mask
        new = not (bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1)
        if not new:
            if key in self._pending:
                return False
            self.lookups += 1
            signed = key - (1 << 63)
            if self._db.execute("SELECT 1 FROM k WHERE key = ?", (signed,)).fetchone() is not None:
                return False
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        self._pending.add(key)
        if len(self._pending) >= self._batch:
            self._flush()
        return True

    def _flush(self) -> None:
        off = 1 << 63
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO k VALUES (?)", [(k - off,) for k in sorted(self._pending)])
        self._db.execute("COMMIT")
        self._pending.clear()

    def close(self) -> None:
        self._db.close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


class Builder:
    """Feed capture records (parsed JSON objects) one at a time; kept ones are returned."""

    def __init__(
        self,
        team: str,
        decide: Decide,
        redactor: Redactor,
        model_classifications: Mapping[str, str] = {},
        eval_fraction: float = 0.1,
        after: str | None = None,
        scratch: str | None = None,
    ):
        if not 0.0 <= eval_fraction < 1.0:
            raise ValueError(f"expected an eval fraction in [0, 1), found {eval_fraction}")
        self.team = team
        self.policy = PolicyCache(decide)
        self.redactor = redactor
        self.model_classifications = dict(model_classifications)
        self.eval_fraction = eval_fraction
        self.after = after
        self.stats = Stats()
        # 64-bit keys: a false duplicate among a million records has a probability of about 3e-8.
        # Both indexes are bounded in memory (SeenKeys), so the builder's memory is flat in N.
        self._exact = SeenKeys(scratch)
        self._near = SeenKeys(scratch)

    def feed(self, rec: Any) -> Kept | None:
        st = self.stats
        st.read += 1
        if not isinstance(rec, dict) or any(k not in rec for k in _REQUIRED) or not isinstance(rec["ts"], str):
            st.exclude("malformed")
            return None
        if rec["team"] != self.team:
            st.exclude("team_mismatch")
            return None
        # Before the chat shape: the gateway records an opted-out request or a flagged answer
        # without its content (request and response null), only so that it is counted here.
        if rec.get("trainingConsent") is False:
            st.exclude("consent_opt_out")
            return None
        if rec.get("guardFlagged") is True:
            st.exclude("guard_flagged")
            return None
        msgs = chat_of(rec["request"], rec["response"]) if rec["endpoint"] == CHAT_ENDPOINT else None
        if msgs is None:
            st.exclude("not_chat")
            return None
        model = rec["model"]
        cls = rec.get("classification")
        if cls is None:
            cls = self.model_classifications.get(model)
        if cls not in CLASSIFICATIONS:
            st.exclude("classification_unknown")
            return None
        allow, reasons = self.policy(self.team, f"captures/{model}", cls)
        if not allow:
            st.exclude("policy:" + (",".join(reasons) or "denied"))
            return None
        msgs = self.redactor.messages(msgs)
        body = canonical(msgs)
        exact = int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "little")
        if not self._exact.add(exact):
            st.exclude("duplicate_exact")
            return None
        if not self._near.add(near_key(msgs)):
            st.exclude("duplicate_near")
            return None
        digest = hashlib.sha256(body).hexdigest()
        split = split_of(digest, self.eval_fraction)
        ts = rec["ts"]
        st.kept += 1
        if split == "eval":
            st.eval += 1
        else:
            st.train += 1
        st.classifications[cls] = st.classifications.get(cls, 0) + 1
        if st.first_ts is None or ts < st.first_ts:
            st.first_ts = ts
        if st.last_ts is None or ts > st.last_ts:
            st.last_ts = ts
        if self.after is None or ts > self.after:
            st.new_kept += 1
        return Kept(msgs, b'{"messages":' + body + b"}\n", digest, split, cls, ts)

    def close(self) -> None:
        """Removes the deduplication indexes' scratch files."""
        self._exact.close()
        self._near.close()

    def highest_classification(self) -> str | None:
        present = [c for c in CLASSIFICATIONS if self.stats.classifications.get(c)]
        return present[-1] if present else None


_DECODE = json.JSONDecoder().decode


def parse_lines(lines: Iterable[bytes], on_bad: Callable[[], None]) -> Iterator[Any]:
    """JSON objects of JSONL lines; a line that is not JSON is passed on as None (malformed)."""
    for raw in lines:
        if not raw.strip():
            continue
        try:
            yield _DECODE(raw.decode())
        except (ValueError, UnicodeDecodeError):
            on_bad()
            yield None


def manifest(
    b: Builder,
    *,
    version: str,
    team: str,
    adapter: str,
    sources: list[str],
    files: Mapping[str, Mapping[str, Any]],
    eval_fraction: float,
) -> dict[str, Any]:
    """The manifest of a dataset version; `content_sha256` covers the files' hashes in order."""
    st = b.stats
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]['sha256']}\n".encode())
    return {
        "kind": "sovereign.flywheel.dataset/v1",
        "version": version,
        "team": team,
        "adapter": adapter,
        "counts": {"read": st.read, "kept": st.kept, "train": st.train, "eval": st.eval, "new": st.new_kept},
        "exclusions": dict(sorted(st.excluded.items())),
        "classifications": dict(sorted(st.classifications.items())),
        "classification": b.highest_classification(),
        "policy_decisions": b.policy.calls,
        "source": {
            "objects": len(sources),
            "first_object": sources[0] if sources else None,
            "last_object": sources[-1] if sources else None,
            "first_ts": st.first_ts,
            "last_ts": st.last_ts,
        },
        "split": {"method": "sha256(conversation)[:8] < fraction * 2^32", "eval_fraction": eval_fraction},
        "files": {k: dict(v) for k, v in sorted(files.items())},
        "content_sha256": h.hexdigest(),
    }
