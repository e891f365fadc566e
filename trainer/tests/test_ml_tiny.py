"""The real jobs (LoRA, eval, quantize) end to end on a tiny randomly initialised Llama with a
tokenizer trained here: no weights download, no GPU. The image's libraries (torch,
transformers, peft, datasets, llmcompressor) come from requirements.txt, installed by
setup-tests.sh; when one is missing these tests fail (they are never skipped)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets  # noqa: F401
import peft  # noqa: F401
import pytest
import torch
import transformers  # noqa: F401
from conftest import job_environ

from sovereign_train.checkpoint import COMPLETE_MARKER
from sovereign_train.cli import main
from sovereign_train.s3 import list_keys, parse_s3_uri, sync_up

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


BASE = "s3://acme-models/tiny-llama/"
CHATS = [
    {"messages": [{"role": "user", "content": f"What is {a} plus {b}?"}, {"role": "assistant", "content": str(a + b)}]}
    for a in range(6)
    for b in range(4)
]


def _tiny_model(path: Path | str) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    corpus = [m["content"] for c in CHATS for m in c["messages"]] + ["user assistant system"]
    tk.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    # transformers 5.17 leaves the tokenizer's and the model's __init__ unannotated.
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tok.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant: {% endif %}"
    )
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)  # type: ignore[no-untyped-call]


@pytest.fixture
def world(fake_s3: S3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_sigterm: None) -> S3Client:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _tiny_model(tmp_path / "tiny")
    sync_up(fake_s3, str(tmp_path / "tiny"), parse_s3_uri(BASE))
    body = "".join(json.dumps(c) + "\n" for c in CHATS).encode()
    fake_s3.put_object(Bucket="acme-datasets", Key="teams/research/support/train.jsonl", Body=body)
    return fake_s3


def _env(tmp_path: Path, pod: str, **over: str | None) -> dict[str, str]:
    return job_environ(tmp_path, **{"HOME": str(tmp_path / pod), "MODEL_URI": BASE, **over})


def _json(client: S3Client, uri: str) -> Any:
    """The JSON document at uri."""
    u = parse_s3_uri(uri)
    return json.loads(client.get_object(Bucket=u.bucket, Key=u.key)["Body"].read())


def test_given_a_tiny_model_when_lora_runs_twice_then_checkpoints_resume_and_the_adapter_evaluates(
    world: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lora", "--max-steps=4", "--save-steps=2", "--grad-accum=1", "--batch-size=2", "--max-seq-length=64"]
    assert main(args, _env(tmp_path, "pod1")) == 0, capsys.readouterr().err
    ckpt = parse_s3_uri("s3://acme-checkpoints/teams/research/support-v2/")
    keys = set(list_keys(world, ckpt))
    assert {f"checkpoint-2/{COMPLETE_MARKER}", f"checkpoint-4/{COMPLETE_MARKER}"} <= keys
    out = "s3://acme-models/teams/research/support-v2/"
    outkeys = set(list_keys(world, parse_s3_uri(out)))
    assert {"adapter_config.json", "adapter_model.safetensors", "sovereign-job.json"} <= outkeys
    assert _json(world, out + "sovereign-job.json")["global_step"] == 4

    # a new pod (fresh scratch) with more steps resumes from checkpoint-4
    args[1] = "--max-steps=6"
    assert main(args, _env(tmp_path, "pod2")) == 0
    err = capsys.readouterr().err
    assert "resuming from s3://acme-checkpoints/teams/research/support-v2/checkpoint-4/" in err
    manifest = _json(world, out + "sovereign-job.json")
    assert manifest["global_step"] == 6 and manifest["base_model_uri"] == BASE
    # --keep-checkpoints=2 (default): step 2 was pruned once step 6 was up
    left = {k.split("/")[0] for k in list_keys(world, ckpt) if k.endswith(COMPLETE_MARKER)}
    assert left == {"checkpoint-4", "checkpoint-6"}

    env = _env(
        tmp_path,
        "pod3",
        SOVEREIGN_JOB_KIND="eval",
        SOVEREIGN_JOB_NAME="support-v2-eval",
        MODEL_URI=out,
        OUTPUT_URI="s3://acme-models/teams/research/support-v2-eval/",
    )
    assert main(["eval", "--max-new-tokens=4", "--max-samples=6"], env) == 0, capsys.readouterr().err
    metrics = _json(world, "s3://acme-models/teams/research/support-v2-eval/metrics.json")
    assert metrics["samples"] == 6 and metrics["tokens"] > 0
    assert math.isfinite(metrics["perplexity"]) and metrics["perplexity"] > 1
    assert 0.0 <= metrics["exact_match"] <= 1.0


@pytest.mark.parametrize("scheme", ["fp8", "awq"])
def test_given_a_tiny_model_when_quantized_then_a_compressed_tensors_checkpoint_is_published(
    world: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    import llmcompressor  # noqa: F401

    out = f"s3://acme-models/teams/research/tiny-{scheme}/"
    env = _env(tmp_path, "pod", SOVEREIGN_JOB_KIND="quantize", SOVEREIGN_JOB_NAME=f"tiny-{scheme}", OUTPUT_URI=out)
    if scheme == "fp8":
        env.pop("DATASET_URI")
    argv = ["quantize", f"--scheme={scheme}", "--calibration-samples=8", "--max-seq-length=64"]
    assert main(argv, env) == 0, capsys.readouterr().err
    cfg = _json(world, out + "config.json")
    q = cfg["quantization_config"]
    assert q["quant_method"] == "compressed-tensors"
    weights = next(iter(q["config_groups"].values()))["weights"]
    assert (weights["type"], weights["num_bits"]) == (("float", 8) if scheme == "fp8" else ("int", 4))
    assert _json(world, out + "sovereign-job.json")["scheme"] == scheme


def test_given_lora_training_when_sigterm_arrives_then_it_uploads_a_checkpoint_exits_143_and_the_next_pod_resumes(
    world: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib
    import os
    import signal
    import threading

    from sovereign_train import checkpoint

    training = threading.Event()
    original = checkpoint.SigtermGuard.checkpointable

    @contextlib.contextmanager
    def watched(self: checkpoint.SigtermGuard) -> Iterator[None]:
        with original(self):
            training.set()
            yield

    monkeypatch.setattr(checkpoint.SigtermGuard, "checkpointable", watched)

    def interrupt() -> None:  # the spot interruption, once the training loop runs
        if training.wait(120):
            threading.Event().wait(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=interrupt, daemon=True).start()
    args = ["lora", "--max-steps=100000", "--save-steps=100000", "--grad-accum=1", "--max-seq-length=64"]
    assert main(args, _env(tmp_path, "pod1")) == 143
    err = capsys.readouterr().err
    assert "SIGTERM: saving a checkpoint" in err
    marker = json.loads((tmp_path / "pod1" / ".sovereign" / "checkpoint-requested").read_text())
    assert marker["checkpoint"] is True
    ckpt = parse_s3_uri("s3://acme-checkpoints/teams/research/support-v2/")
    steps = sorted(int(k.split("/")[0].split("-")[1]) for k in list_keys(world, ckpt) if k.endswith(COMPLETE_MARKER))
    assert len(steps) == 1 and steps[0] > 0
    out = parse_s3_uri("s3://acme-models/teams/research/support-v2/")
    assert list(list_keys(world, out)) == []  # no adapter: the job is not done

    args[1] = f"--max-steps={steps[0] + 2}"
    assert main(args, _env(tmp_path, "pod2")) == 0
    err = capsys.readouterr().err
    assert f"resuming from s3://acme-checkpoints/teams/research/support-v2/checkpoint-{steps[0]}/" in err
    assert _json(world, str(out) + "sovereign-job.json")["global_step"] == steps[0] + 2
