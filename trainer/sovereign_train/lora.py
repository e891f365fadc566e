"""LoRA fine-tune (PEFT) of MODEL_URI on the chat JSONL at DATASET_URI with the HF Trainer.

- resumes from the newest complete checkpoint under CHECKPOINT_URI (RESUME_FROM_CHECKPOINT=auto);
- uploads every checkpoint the Trainer saves (every --save-steps, and on SIGTERM);
- writes the adapter (adapter_config.json, adapter_model.safetensors, tokenizer) to OUTPUT_URI.

Loss is computed on the whole rendered chat (system, user and assistant turns).
Several GPUs in the one pod are used by the Trainer in one process (DataParallel).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import BadInput
from .checkpoint import (
    checkpoint_dir_name,
    prune_checkpoints,
    resolve_resume,
    upload_checkpoint,
)
from .common import fetch_dataset, fetch_model, log, publish, scratch_dir
from .data import chat_tokenizer
from .s3 import client_from_env, sync_down

if TYPE_CHECKING:
    from .checkpoint import SigtermGuard
    from .cli import JobEnv


def run(args: argparse.Namespace, je: JobEnv, env: Mapping[str, str], guard: SigtermGuard) -> None:
    assert je.checkpoints is not None  # job_env requires CHECKPOINT_URI for a lora job
    ckpt_uri = je.checkpoints
    client = client_from_env(env)
    records = fetch_dataset(client, je)  # bad lines: exit 2 before anything heavy
    resume = resolve_resume(je.resume, client, ckpt_uri)
    model_dir = fetch_model(client, je.model, je)

    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tok, "chat_template", None):
        raise BadInput(f'expected the tokenizer at MODEL_URI "{je.model}" to have a chat template, found none')
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token

    tokenize = chat_tokenizer(tok, args.max_seq_length)
    train_ds = Dataset.from_list(records).map(tokenize, remove_columns=["messages"])

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    targets = args.target_modules if args.target_modules == "all-linear" else args.target_modules.split(",")
    model = get_peft_model(
        base,
        LoraConfig(
            r=args.lora_r,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        ),
    )
    model.print_trainable_parameters()

    out_dir = scratch_dir(je, "trainer")
    resume_path = None
    if resume is not None:
        # The Trainer reads trainer_state.json from the folder; its name is kept as in S3.
        resume_path = os.path.join(out_dir, resume.key.rstrip("/").rsplit("/", 1)[-1])
        sync_down(client, resume, resume_path)
        log(f"resuming from {resume}")

    keep_checkpoints: int = args.keep_checkpoints

    class CheckpointSync(TrainerCallback):
        """Uploads each saved checkpoint; on SIGTERM asks the Trainer to save and stop."""

        def on_step_end(
            self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object
        ) -> TrainerControl:
            if guard.requested:
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_save(
            self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object
        ) -> TrainerControl:
            if state.is_world_process_zero:
                assert args.output_dir is not None  # TrainingArguments fills in a default
                local = os.path.join(args.output_dir, checkpoint_dir_name(state.global_step))
                dest = upload_checkpoint(client, local, ckpt_uri, state.global_step)
                log(f"checkpoint step {state.global_step} -> {dest}")
                try:
                    pruned = prune_checkpoints(client, ckpt_uri, keep_checkpoints)
                except Exception as e:  # noqa: BLE001 (e.g. no delete permission: keep training)
                    log(f"could not prune old checkpoints under {je.checkpoints}: {e}")
                else:
                    if pruned:
                        log(f"pruned checkpoints {pruned}")
            return control

    targs = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps if args.max_steps is not None else -1,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        bf16=bf16,
        logging_steps=10,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=2,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train_ds,
        data_collator=DataCollatorForLanguageModeling(tokenizer=tok, mlm=False),
        processing_class=tok,
        callbacks=[CheckpointSync()],
    )
    with guard.checkpointable():
        result = trainer.train(resume_from_checkpoint=resume_path)
    guard.exit_if_requested()  # stopped by SIGTERM after its checkpoint: exit 143, not success

    final = scratch_dir(je, "adapter")
    assert isinstance(trainer.model, PeftModel)  # the Trainer keeps the PEFT model it was given
    trainer.model.save_pretrained(final)
    tok.save_pretrained(final)
    publish(
        client,
        final,
        je,
        {
            "base_model_uri": str(je.model),
            "global_step": trainer.state.global_step,
            "train_loss": getattr(result, "training_loss", None),
            "lora": {"r": args.lora_r, "alpha": args.lora_alpha, "target_modules": args.target_modules},
        },
    )
