"""Evaluation of MODEL_URI (a model folder, or a LoRA adapter written by `sovereign-train lora`,
whose manifest names its base model) on the team's chat JSONL at DATASET_URI.

Tasks: `perplexity` (token-weighted, over whole chats), `exact-match` (greedy answer to every
turn before the last assistant message, compared to it after normalising case and whitespace);
`team-dataset` = both; `safety`: the model answers the fixed safety set (safety_set.py) and
the guard model (GUARD_URL, GUARD_MODEL) screens each answer: `guard_flag_rate`, with the set's
`safety_sha256`. With `perplexity`, `example_nll` holds each record's mean token loss, in the
dataset's order (null for a record with no token to predict): the gate compares two models'
lists record by record for the win rate (gate.py). Writes `metrics.json` and `predictions.jsonl`
to OUTPUT_URI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import BadInput
from .common import fetch_dataset, fetch_model, log, publish, read_manifest, scratch_dir
from .s3 import client_from_env, parse_s3_uri

if TYPE_CHECKING:
    import torch
    from transformers import BatchEncoding, PreTrainedTokenizerBase

    from .checkpoint import SigtermGuard
    from .cli import JobEnv
    from .safety_set import Guard


def normalize_answer(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference)


def perplexity(total_nll: float, total_tokens: int) -> float:
    """exp of the mean negative log-likelihood per predicted token."""
    if total_tokens <= 0:
        raise ValueError(f"expected predicted tokens, found {total_tokens}")
    return math.exp(total_nll / total_tokens)


def expand_tasks(tasks: list[str]) -> set[str]:
    out = set()
    for t in tasks:
        out |= {"perplexity", "exact-match"} if t == "team-dataset" else {t}
    return out


def _encode(tok: PreTrainedTokenizerBase, text: str, device: torch.device) -> BatchEncoding:
    enc: BatchEncoding = tok(text, return_tensors="pt", add_special_tokens=False, return_token_type_ids=False)
    return enc.to(device)


def _generate(tok: PreTrainedTokenizerBase, model: Any, msgs: list[dict[str, str]], max_new_tokens: int) -> str:
    """The model's greedy answer to a chat."""
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert isinstance(prompt, str)
    enc = _encode(tok, prompt, model.device)
    gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    answer = tok.decode(gen[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert isinstance(answer, str)  # one sequence of ids decodes to one string
    return answer


def guard_from_env(env: Mapping[str, str]) -> Guard:
    """The safety task's guard: GUARD_URL, GUARD_MODEL and, where the guard's server requires one,
    its API key GUARD_API_KEY (the chain pod's env, from the guard's key Secret) and the CA its HTTPS
    certificate must chain to, GUARD_CA_FILE (the model CA's bundle in the team's namespace)."""
    from .safety_set import Guard

    if not env.get("GUARD_URL"):
        raise BadInput(
            "expected GUARD_URL in the environment for the safety task (the guard model's chat completions URL)"
        )
    try:
        return Guard(
            env["GUARD_URL"],
            env.get("GUARD_MODEL") or "",
            api_key=env.get("GUARD_API_KEY") or "",
            ca_file=env.get("GUARD_CA_FILE") or "",
        )
    except ValueError as e:
        raise BadInput(str(e))


def run(args: argparse.Namespace, je: JobEnv, env: Mapping[str, str], guard: SigtermGuard) -> None:
    tasks = expand_tasks(args.tasks)
    guard_model = guard_from_env(env) if "safety" in tasks else None
    client = client_from_env(env)
    records = fetch_dataset(client, je)
    if args.max_samples is not None:
        records = records[: args.max_samples]
    model_dir = fetch_model(client, je.model, je)
    adapter_dir = None
    if os.path.exists(os.path.join(model_dir, "adapter_config.json")):
        base = read_manifest(model_dir).get("base_model_uri")
        if not base:
            raise BadInput(f'expected the adapter at MODEL_URI "{je.model}" to name its base model, found none')
        adapter_dir, model_dir = model_dir, fetch_model(client, parse_s3_uri(base, "base_model_uri"), je, "base")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(adapter_dir or model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto", device_map="auto")
    if adapter_dir is not None:
        from peft import PeftModel

    model = base if adapter_dir is None else PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    nll, tokens, hits = 0.0, 0, 0
    example_nll: list[float | None] = []
    out = scratch_dir(je, "eval")
    with open(os.path.join(out, "predictions.jsonl"), "w") as preds, torch.no_grad():
        for i, rec in enumerate(records):
            msgs = rec["messages"]
            row: dict[str, Any] = {"index": i}
            if "perplexity" in tasks:
                text = tok.apply_chat_template(msgs, tokenize=False)
                assert isinstance(text, str)  # tokenize=False renders the chat as one string
                enc = _encode(tok, text, model.device)
                n = int(enc["input_ids"].shape[1]) - 1
                mean: float | None = None
                if n > 0:
                    mean = float(model(**enc, labels=enc["input_ids"]).loss)
                    nll += mean * n
                    tokens += n
                example_nll.append(mean)
            if "exact-match" in tasks:
                answer = _generate(tok, model, msgs[:-1], args.max_new_tokens)
                row["prediction"] = answer
                row["exact_match"] = exact_match(answer, msgs[-1]["content"])
                hits += row["exact_match"]
            preds.write(json.dumps(row) + "\n")
        flagged = 0
        if guard_model is not None:
            from .safety_set import PROMPTS

            for i, prompt in enumerate(PROMPTS):
                answer = _generate(tok, model, [{"role": "user", "content": prompt}], args.max_new_tokens)
                hit = guard_model.flags(prompt, answer)
                flagged += hit
                preds.write(json.dumps({"safety": i, "prediction": answer, "guard_flagged": hit}) + "\n")
    metrics: dict[str, Any] = {"samples": len(records), "tasks": sorted(tasks)}
    if "perplexity" in tasks:
        metrics["perplexity"] = perplexity(nll, tokens)
        metrics["tokens"] = tokens
        metrics["example_nll"] = example_nll
    if "exact-match" in tasks:
        metrics["exact_match"] = hits / len(records)
    if guard_model is not None:
        from .safety_set import PROMPTS, safety_sha256

        metrics["guard_flag_rate"] = flagged / len(PROMPTS)
        metrics["safety_samples"] = len(PROMPTS)
        metrics["safety_sha256"] = safety_sha256()
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    log(f"metrics: {json.dumps(metrics)}")
    publish(client, out, je, {"metrics": metrics, "adapter": adapter_dir is not None})
