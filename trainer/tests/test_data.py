from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import job_environ

from sovereign_train import BadInput
from sovereign_train.cli import main
from sovereign_train.data import load_chat_jsonl

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


GOOD = {"messages": [{"role": "user", "content": "Reset my password?"}, {"role": "assistant", "content": "Use SSO."}]}


def write(tmp_path: Path, lines: list[str]) -> str:
    p = tmp_path / "d.jsonl"
    p.write_text("".join(line + "\n" for line in lines))
    return str(p)


def test_given_good_chats_and_blank_lines_when_loaded_then_every_chat_comes_back(tmp_path: Path) -> None:
    sys_msg = {"messages": [{"role": "system", "content": "Be brief."}, *GOOD["messages"]]}
    recs = load_chat_jsonl(write(tmp_path, [json.dumps(GOOD), "", "  ", json.dumps(sys_msg)]))
    assert recs == [GOOD, sys_msg]


def test_given_bad_lines_when_loaded_then_each_is_reported_with_its_line_number(tmp_path: Path) -> None:
    lines = [
        json.dumps(GOOD),
        '{"messages": [',  # 2: not JSON
        "",
        json.dumps({"prompt": "x"}),  # 4: no messages
        json.dumps({"messages": [{"role": "bot", "content": "hi"}]}),  # 5: bad role
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),  # 6: no answer
        json.dumps([1, 2]),  # 7: not an object
        json.dumps({"messages": [{"role": "assistant", "content": 3}]}),  # 8: content not a string
    ]
    with pytest.raises(BadInput) as e:
        load_chat_jsonl(write(tmp_path, lines), source="s3://acme-datasets/teams/research/d.jsonl")
    text = str(e.value)
    assert "s3://acme-datasets/teams/research/d.jsonl: 6 bad line(s)" in text
    assert "line 2: expected JSON, found '{\"messages\": ['" in text
    assert 'line 4: expected "messages" to be a non-empty list, found null' in text
    assert "line 5: expected messages[0].role to be one of" in text and 'found "bot"' in text
    assert 'line 6: expected the last message to be from "assistant", found "user"' in text
    assert "line 7: expected a JSON object, found list" in text
    assert "line 8: expected messages[0].content to be a string, found 3" in text
    assert "line 1:" not in text and "line 3:" not in text


def test_given_many_bad_lines_when_loaded_then_the_first_20_are_listed_and_the_rest_counted(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as e:
        load_chat_jsonl(write(tmp_path, ["nope"] * 25))
    assert "25 bad line(s) (and 5 more)" in str(e.value)
    assert "line 20:" in str(e.value) and "line 21:" not in str(e.value)


def test_given_an_empty_file_when_loaded_then_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="expected at least one chat line, found none"):
        load_chat_jsonl(write(tmp_path, ["", ""]))


def test_given_invalid_utf8_when_loaded_then_the_line_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(json.dumps(GOOD).encode() + b"\n\xff\xfe\n")
    with pytest.raises(BadInput, match="line 2: expected UTF-8 text"):
        load_chat_jsonl(str(p))


def test_given_a_lora_job_with_a_bad_dataset_in_s3_when_run_then_exit_2_before_any_model_work(
    fake_s3: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_sigterm: None
) -> None:
    env = job_environ(tmp_path)
    fake_s3.put_object(
        Bucket="acme-datasets",
        Key="teams/research/support/train.jsonl",
        Body=(json.dumps(GOOD) + "\n{broken\n").encode(),
    )
    fake_s3.put_object(Bucket="acme-models", Key="llama-3.1-8b-instruct/config.json", Body=b"{}")
    torch_loaded = "torch" in sys.modules  # True only where another test loaded it
    assert main(["lora"], env) == 2
    err = capsys.readouterr().err
    assert "line 2: expected JSON, found '{broken'" in err
    assert "s3://acme-datasets/teams/research/support/train.jsonl" in err
    assert not (tmp_path / "model").exists()  # weights were never fetched
    assert ("torch" in sys.modules) == torch_loaded


def test_given_a_missing_dataset_object_when_run_then_exit_2_naming_the_uri(
    fake_s3: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_sigterm: None
) -> None:
    env = job_environ(tmp_path, SOVEREIGN_JOB_KIND="eval")
    assert main(["eval"], env) == 2
    err = capsys.readouterr().err
    assert 'DATASET_URI to name an existing object, found nothing at "s3://acme-datasets/' in err


def test_given_a_model_prefix_without_a_model_when_run_then_exit_2(
    fake_s3: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_sigterm: None
) -> None:
    env = job_environ(tmp_path, SOVEREIGN_JOB_KIND="quantize", DATASET_URI=None)
    fake_s3.put_object(Bucket="acme-models", Key="llama-3.1-8b-instruct/README.md", Body=b"hi")
    assert main(["quantize", "--scheme=fp8"], env) == 2
    err = capsys.readouterr().err
    assert (
        'Hugging Face model (config.json) or adapter (adapter_config.json) at "s3://acme-models/llama-3.1-8b-instruct/"'
        in err
    )
