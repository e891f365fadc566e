from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import ENDPOINT

from sovereign_train import BadInput
from sovereign_train.s3 import (
    S3Uri,
    client_from_env,
    list_keys,
    parse_s3_uri,
    sync_down,
    sync_up,
)

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


def test_given_a_uri_when_parsed_then_bucket_and_key_split_and_prefixes_are_recognised() -> None:
    u = parse_s3_uri("s3://acme-models/teams/research/support-v2/", "OUTPUT_URI")
    assert (u.bucket, u.key, u.is_prefix) == ("acme-models", "teams/research/support-v2/", True)
    f = parse_s3_uri("s3://acme-datasets/teams/research/support/train.jsonl")
    assert f.is_prefix is False and f.as_prefix().key == "teams/research/support/train.jsonl/"
    assert str(u.join("checkpoint-300", "adapter_model.safetensors")) == (
        "s3://acme-models/teams/research/support-v2/checkpoint-300/adapter_model.safetensors"
    )
    assert S3Uri("b-1", "").is_prefix and str(S3Uri("b-1", "").join("x")) == "s3://b-1/x"


@pytest.mark.parametrize(
    "value,quoted",
    [
        ("https://acme-models/x", '"https://acme-models/x"'),
        ("s3://Acme_Models/x", '"Acme_Models"'),
        ("s3://ab/x", '"ab"'),
        ("s3://acme-models/teams/../other/", '"teams/../other/"'),
        ("s3://acme-models//x", '"/x"'),
        ("s3://$(SOVEREIGN_BUCKET_MODELS)/x", "$(SOVEREIGN_BUCKET_MODELS)"),
    ],
)
def test_given_a_bad_uri_when_parsed_then_bad_input_names_the_variable_and_quotes_it(value: str, quoted: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_s3_uri(value, "MODEL_URI")
    assert "MODEL_URI" in str(e.value) and quoted in str(e.value)


def test_given_a_relative_part_climbing_out_when_joined_then_refused() -> None:
    with pytest.raises(BadInput, match=r'"\.\./x"'):
        S3Uri("acme-models", "teams/a/").join("../x")


def test_given_the_substrate_env_when_a_client_is_made_then_endpoint_region_and_path_style_follow_it() -> None:
    c = client_from_env({"AWS_ENDPOINT_URL_S3": ENDPOINT, "AWS_REGION": "eu-west-3", "S3_FORCE_PATH_STYLE": "true"})
    assert c.meta.endpoint_url == ENDPOINT
    assert c.meta.region_name == "eu-west-3"
    # botocore sets Config's options as attributes at run time; botocore-stubs declares only the
    # constructor's arguments.
    assert c.meta.config.s3["addressing_style"] == "path"  # type: ignore[attr-defined]
    aws = client_from_env({"AWS_REGION": "eu-west-3", "S3_FORCE_PATH_STYLE": "false"})
    assert aws.meta.endpoint_url == "https://s3.eu-west-3.amazonaws.com"
    assert aws.meta.config.s3["addressing_style"] == "auto"  # type: ignore[attr-defined]


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def test_given_a_local_tree_when_synced_up_and_down_then_the_layout_and_bytes_round_trip(
    fake_s3: S3Client, tmp_path: Path
) -> None:
    files = {
        "config.json": b"{}",
        "model-00001-of-00002.safetensors": os.urandom(3000),
        "sub/dir/tokenizer.json": b'{"v": 1}',
        "sovereign-job.json": b"{}",
    }
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, files)
    prefix = parse_s3_uri("s3://acme-models/teams/research/job-a/")
    order = sync_up(fake_s3, str(src), prefix, last=["sovereign-job.json"])
    assert order[-1] == "sovereign-job.json" and sorted(order) == sorted(files)
    keys = [o["Key"] for o in fake_s3.list_objects_v2(Bucket="acme-models")["Contents"]]
    assert sorted(keys) == sorted(f"teams/research/job-a/{k}" for k in files)
    # a sibling prefix sharing the name's start is not part of it
    fake_s3.put_object(Bucket="acme-models", Key="teams/research/job-ab/other", Body=b"x")
    assert sorted(list_keys(fake_s3, parse_s3_uri("s3://acme-models/teams/research/job-a"))) == sorted(files)
    got = sync_down(fake_s3, prefix, str(dst))
    assert got == sorted(files)
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data


def test_given_files_already_present_when_synced_down_again_then_they_are_not_fetched_twice(
    fake_s3: S3Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path / "src", {"a.bin": b"1234", "b.bin": b"5678"})
    prefix = parse_s3_uri("s3://acme-models/base/")
    sync_up(fake_s3, str(tmp_path / "src"), prefix)
    sync_down(fake_s3, prefix, str(tmp_path / "dst"))
    calls: list[str] = []
    real = fake_s3.download_file

    def download_file(bucket: str, key: str, filename: str, **kw: Any) -> None:
        calls.append(key)
        real(bucket, key, filename, **kw)

    monkeypatch.setattr(fake_s3, "download_file", download_file)
    (tmp_path / "dst" / "b.bin").write_bytes(b"56")  # truncated by a killed pod
    sync_down(fake_s3, prefix, str(tmp_path / "dst"))
    assert calls == ["base/b.bin"]
    assert (tmp_path / "dst" / "b.bin").read_bytes() == b"5678"


def test_given_a_key_that_climbs_out_when_synced_down_then_refused(fake_s3: S3Client, tmp_path: Path) -> None:
    fake_s3.put_object(Bucket="acme-models", Key="base/../../etc/passwd", Body=b"x")
    with pytest.raises(BadInput, match="etc/passwd"):
        sync_down(fake_s3, parse_s3_uri("s3://acme-models/base/"), str(tmp_path / "dst"))
    assert not (tmp_path / "etc").exists()
