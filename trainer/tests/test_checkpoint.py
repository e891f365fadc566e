from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sovereign_train import BadInput
from sovereign_train.checkpoint import (
    COMPLETE_MARKER,
    newest_checkpoint,
    newest_complete_step,
    prune_checkpoints,
    resolve_resume,
    steps_to_prune,
    upload_checkpoint,
)
from sovereign_train.s3 import list_keys, parse_s3_uri

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


CKPT = parse_s3_uri("s3://acme-checkpoints/teams/research/support-v2/")


def test_given_checkpoint_keys_when_searched_then_the_highest_complete_step_wins_numerically() -> None:
    keys = [
        "checkpoint-900/adapter_model.safetensors",
        f"checkpoint-900/{COMPLETE_MARKER}",
        "checkpoint-1000/adapter_model.safetensors",
        f"checkpoint-1000/{COMPLETE_MARKER}",
        "checkpoint-1200/adapter_model.safetensors",  # cut off mid-upload: no marker
        f"checkpoint-abc/{COMPLETE_MARKER}",
        f"other/checkpoint-5000/{COMPLETE_MARKER}",
        f"checkpoint-7000/sub/{COMPLETE_MARKER}",
    ]
    assert newest_complete_step(keys) == 1000
    assert newest_complete_step(["checkpoint-5/trainer_state.json"]) is None
    assert newest_complete_step([]) is None


def _local_ckpt(
    tmp_path: Path, step: int, files: tuple[str, ...] = ("adapter_model.safetensors", "trainer_state.json")
) -> str:
    d = tmp_path / f"local-{step}"
    d.mkdir()
    for f in files:
        (d / f).write_bytes(f"{f}@{step}".encode())
    return str(d)


def test_given_uploaded_and_partial_checkpoints_when_resuming_auto_then_the_newest_complete_one_is_chosen(
    fake_s3: S3Client, tmp_path: Path
) -> None:
    assert resolve_resume("auto", fake_s3, CKPT) is None  # first run: nothing yet
    upload_checkpoint(fake_s3, _local_ckpt(tmp_path, 200), CKPT, 200)
    dest = upload_checkpoint(fake_s3, _local_ckpt(tmp_path, 400), CKPT, 400)
    assert str(dest) == "s3://acme-checkpoints/teams/research/support-v2/checkpoint-400/"
    # a pod killed while uploading step 600 left files but no marker
    fake_s3.put_object(Bucket=CKPT.bucket, Key=CKPT.key + "checkpoint-600/adapter_model.safetensors", Body=b"x")
    assert str(resolve_resume("auto", fake_s3, CKPT)) == str(dest)
    assert str(newest_checkpoint(fake_s3, CKPT)) == str(dest)
    assert resolve_resume("never", fake_s3, CKPT) is None
    explicit = "s3://acme-checkpoints/teams/research/support-v2/checkpoint-200/"
    assert str(resolve_resume(explicit, fake_s3, CKPT)) == explicit
    with pytest.raises(BadInput, match='"s3://acme-checkpoints/teams/research/support-v2/checkpoint-600/"'):
        resolve_resume(CKPT.key and str(CKPT) + "checkpoint-600/", fake_s3, CKPT)


def test_given_a_checkpoint_when_uploaded_then_every_file_lands_and_the_marker_goes_last(
    fake_s3: S3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    puts: list[str] = []
    real = fake_s3.upload_file

    def upload_file(src: str, b: str, k: str, **kw: Any) -> None:
        puts.append(k)
        real(src, b, k, **kw)

    monkeypatch.setattr(fake_s3, "upload_file", upload_file)
    upload_checkpoint(fake_s3, _local_ckpt(tmp_path, 50, ("a.bin", "z.bin", "trainer_state.json")), CKPT, 50)
    assert puts[-1] == CKPT.key + f"checkpoint-50/{COMPLETE_MARKER}"
    assert sorted(list_keys(fake_s3, CKPT)) == sorted(
        f"checkpoint-50/{f}" for f in ("a.bin", "z.bin", "trainer_state.json", COMPLETE_MARKER)
    )


def test_given_checkpoint_keys_when_pruning_then_only_steps_older_than_the_kept_complete_ones_go() -> None:
    keys = [f"checkpoint-{s}/{COMPLETE_MARKER}" for s in (100, 200, 300, 400)] + [
        "checkpoint-50/adapter_model.safetensors",  # cut off, old
        "checkpoint-350/adapter_model.safetensors",  # cut off, between kept ones
        "checkpoint-500/adapter_model.safetensors",  # cut off, newest
    ]
    assert steps_to_prune(keys, 2) == [50, 100, 200]
    assert steps_to_prune(keys, 4) == [50]
    assert steps_to_prune(keys, 5) == []
    assert steps_to_prune(keys, 0) == []


def test_given_three_uploaded_checkpoints_when_pruned_to_two_then_the_oldest_is_deleted_marker_first(
    fake_s3: S3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in (10, 20, 30):
        upload_checkpoint(fake_s3, _local_ckpt(tmp_path, step), CKPT, step)
    deleted: list[str] = []
    real = fake_s3.delete_object

    def delete_object(**kw: Any) -> Any:
        deleted.append(kw["Key"])
        return real(**kw)

    monkeypatch.setattr(fake_s3, "delete_object", delete_object)
    assert prune_checkpoints(fake_s3, CKPT, keep=2) == [10]
    assert deleted[0] == CKPT.key + f"checkpoint-10/{COMPLETE_MARKER}" and len(deleted) == 3
    assert newest_complete_step(list_keys(fake_s3, CKPT)) == 30
    assert sorted({k.split("/")[0] for k in list_keys(fake_s3, CKPT)}) == ["checkpoint-20", "checkpoint-30"]
