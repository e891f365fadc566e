"""Team datasets: JSONL, one chat per line: {"messages": [{"role": ..., "content": ...}, ...]}.

Every bad line is reported with its line number (the first 20), and the job exits with code 2
before any weights are downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import BadInput

ROLES = ("system", "user", "assistant", "tool")
MAX_REPORTED = 20

#: One checked line: {"messages": [{"role": ..., "content": ...}, ...]} (the role is in ROLES).
ChatRecord = dict[str, list[dict[str, str]]]


def _line_problem(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"expected a JSON object, found {type(obj).__name__}"
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return f'expected "messages" to be a non-empty list, found {json.dumps(msgs)[:80]}'
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"expected messages[{i}] to be an object, found {json.dumps(m)[:80]}"
        if m.get("role") not in ROLES:
            return f"expected messages[{i}].role to be one of {list(ROLES)}, found {json.dumps(m.get('role'))}"
        if not isinstance(m.get("content"), str):
            return f"expected messages[{i}].content to be a string, found {json.dumps(m.get('content'))[:80]}"
    if msgs[-1]["role"] != "assistant":
        return f'expected the last message to be from "assistant", found "{msgs[-1]["role"]}"'
    return None


def load_chat_jsonl(path: str, source: str | None = None) -> list[ChatRecord]:
    """Reads and checks a chat JSONL file; raises BadInput listing every bad line."""
    records: list[ChatRecord] = []
    problems: list[str] = []
    bad = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad += 1
                if bad <= MAX_REPORTED:
                    problems.append(f"line {n}: expected UTF-8 text, found a bad byte at {e.start}")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problem: str | None = f"expected JSON, found {line.strip()[:60]!r} ({e.msg})"
            else:
                problem = _line_problem(obj)
            if problem:
                bad += 1
                if bad <= MAX_REPORTED:
                    problems.append(f"line {n}: {problem}")
            else:
                records.append({"messages": obj["messages"]})
    where = source or path
    if bad:
        more = f" (and {bad - MAX_REPORTED} more)" if bad > MAX_REPORTED else ""
        raise BadInput([f"dataset {where}: {bad} bad line(s){more}:"] + [f"  {p}" for p in problems])
    if not records:
        raise BadInput(f"dataset {where}: expected at least one chat line, found none")
    return records


def chat_tokenizer(tok: Any, max_seq_length: int) -> Callable[[dict[str, Any]], Any]:
    """A `datasets.map` function rendering each chat with the model's chat template, truncated."""

    def tokenize(rec: dict[str, Any]) -> Any:
        text = tok.apply_chat_template(rec["messages"], tokenize=False)
        return tok(
            text,
            truncation=True,
            max_length=max_seq_length,
            add_special_tokens=False,
            return_token_type_ids=False,
        )

    return tokenize
