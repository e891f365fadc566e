"""Steps every job shares: scratch folders, fetching the model and the dataset, the manifest."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from . import BadInput, __version__
from .data import ChatRecord, load_chat_jsonl
from .s3 import S3Uri, download_file, object_exists, sync_down, sync_up

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from .cli import JobEnv

MANIFEST = "sovereign-job.json"


def log(msg: str) -> None:
    print(f"sovereign-train: {msg}", file=sys.stderr, flush=True)


def scratch_dir(je: JobEnv, *parts: str) -> str:
    path = os.path.join(je.scratch, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def fetch_dataset(client: S3Client, je: JobEnv) -> list[ChatRecord]:
    """Downloads DATASET_URI and checks every line (exit 2 before any weights are fetched)."""
    assert je.dataset is not None  # job_env requires DATASET_URI for every job that calls this
    if not object_exists(client, je.dataset):
        raise BadInput(f'expected DATASET_URI to name an existing object, found nothing at "{je.dataset}"')
    dest = os.path.join(scratch_dir(je, "data"), "dataset.jsonl")
    download_file(client, je.dataset, dest)
    records = load_chat_jsonl(dest, source=str(je.dataset))
    log(f"dataset {je.dataset}: {len(records)} chats")
    return records


def fetch_model(client: S3Client, uri: S3Uri, je: JobEnv, name: str = "model") -> str:
    """Syncs a Hugging Face model folder (or a LoRA adapter folder) from S3 to scratch."""
    local = scratch_dir(je, name)
    t0 = time.time()
    files = sync_down(client, uri, local)
    if "config.json" not in files and "adapter_config.json" not in files:
        raise BadInput(
            f'expected a Hugging Face model (config.json) or adapter (adapter_config.json) at "{uri}", '
            f"found {len(files)} file(s) {files[:5]}"
        )
    log(f"model {uri}: {len(files)} files in {time.time() - t0:.0f}s")
    return local


def read_manifest(local_dir: str) -> dict[str, Any]:
    """The manifest's JSON object ({} when there is none)."""
    path = os.path.join(local_dir, MANIFEST)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        manifest: dict[str, Any] = json.load(f)
    return manifest


def publish(client: S3Client, local_dir: str, je: JobEnv, extra: dict[str, Any]) -> None:
    """Uploads a finished artifact folder to OUTPUT_URI; the manifest goes up last, so its
    presence means the artifact is complete."""
    manifest = {
        "runner": f"sovereign-train {__version__}",
        "kind": je.kind,
        "job": je.job_name,
        "model_uri": str(je.model),
        "dataset_uri": None if je.dataset is None else str(je.dataset),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    with open(os.path.join(local_dir, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    uploaded = sync_up(client, local_dir, je.output, last=[MANIFEST])
    log(f"published {len(uploaded)} files to {je.output}")
