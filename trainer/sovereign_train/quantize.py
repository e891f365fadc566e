"""One-shot quantization of MODEL_URI with llm-compressor, written to OUTPUT_URI as a
compressed-tensors checkpoint (config.json carries `quantization_config`), which vLLM loads
as is (`vllm serve <folder>`).

- fp8: FP8_DYNAMIC (FP8 weights, per-token dynamic FP8 activations), data-free;
- awq: AWQ W4A16 (4-bit weights, asymmetric, group 128), calibrated on the chat JSONL at
  DATASET_URI (--calibration-samples lines); HF_HUB_OFFLINE: no public calibration set.

`lm_head` stays unquantized. Quantization is not checkpointed: SIGTERM exits 143 and the
replacement pod starts over.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .common import fetch_dataset, fetch_model, log, publish, scratch_dir
from .data import chat_tokenizer
from .s3 import client_from_env

if TYPE_CHECKING:
    from llmcompressor.modifiers import Modifier

    from .checkpoint import SigtermGuard
    from .cli import JobEnv

#: llm-compressor preset scheme per --scheme.
PRESETS = {"fp8": "FP8_DYNAMIC", "awq": "W4A16_ASYM"}


def recipe_for(scheme: str) -> list[Modifier]:
    """llm-compressor 0.14 recipe: AWQ is a transform (smoothing) followed by the W4A16
    quantization modifier (`llmcompressor.modifiers.awq.AWQModifier` is a deprecated shim)."""
    from llmcompressor.modifiers.quantization import QuantizationModifier

    quant = QuantizationModifier(targets=["Linear"], scheme=PRESETS[scheme], ignore=["lm_head"])
    if scheme == "awq":
        from llmcompressor.modifiers.transform.awq import AWQModifier

        return [AWQModifier(), quant]
    return [quant]


def no_pinning_without_cuda() -> bool:
    """llm-compressor 0.14's AWQ smoothing pins its calibration cache in page-locked host memory
    (`IntermediatesCache.pin_memory`, only to speed up host-to-GPU copies), and pinning needs a
    CUDA driver. Without CUDA there is nothing to copy to, so pinning is skipped: the numbers are
    the same, only the GPU transfer optimisation is gone. Returns whether it was skipped."""
    import torch

    if torch.cuda.is_available():
        return False
    from llmcompressor.pipelines.cache import IntermediatesCache

    # A deliberate patch of the class (the cache is created inside oneshot, out of our reach).
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    return True


def run(args: argparse.Namespace, je: JobEnv, env: Mapping[str, str], guard: SigtermGuard) -> None:
    client = client_from_env(env)
    records = fetch_dataset(client, je) if args.scheme == "awq" else None
    model_dir = fetch_model(client, je.model, je)

    from llmcompressor.entrypoints.oneshot import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.scheme == "awq" and no_pinning_without_cuda():
        log("no CUDA device: AWQ calibration runs on the CPU without pinned memory")

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    recipe = recipe_for(args.scheme)
    if records is None:
        oneshot(model=model, recipe=recipe)
    else:
        from datasets import Dataset

        samples = records[: args.calibration_samples]

        tokenize = chat_tokenizer(tok, args.max_seq_length)
        calib = Dataset.from_list(samples).map(tokenize, remove_columns=["messages"])
        log(f"calibrating AWQ on {len(samples)} chats")
        oneshot(
            model=model,
            dataset=calib,
            recipe=recipe,
            max_seq_length=args.max_seq_length,
            num_calibration_samples=len(samples),
        )
    out = scratch_dir(je, "quantized")
    model.save_pretrained(out, save_compressed=True)
    tok.save_pretrained(out)
    publish(client, out, je, {"scheme": args.scheme, "llmcompressor_scheme": PRESETS[args.scheme]})
