import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import job_environ

from sovereign_train.cli import main

TRAINER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    rc: int | str | None
    try:
        rc = main(argv, env)
    except SystemExit as e:  # argparse
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "kind,argv",
    [
        ("lora", ["lora"]),
        ("quantize", ["quantize", "--scheme=fp8"]),
        ("quantize", ["quantize", "--scheme=awq"]),
        ("eval", ["eval", "--tasks=team-dataset"]),
        ("eval", ["eval", "--tasks=perplexity,exact-match"]),
    ],
)
def test_given_the_template_commands_when_dry_run_then_accepted_with_the_plan(
    kind: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(["--dry-run", *argv], job_environ(tmp_path, SOVEREIGN_JOB_KIND=kind), capsys)
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["kind"] == kind
    assert plan["output"] == "s3://acme-models/teams/research/support-v2/"
    assert plan["checkpoint_on_sigterm"] is True and plan["resume"] == "auto"
    if kind == "quantize":
        assert plan["args"]["scheme"] == argv[1].split("=")[1]


def test_given_an_unknown_scheme_when_parsed_then_exit_2_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(["quantize", "--scheme=int8"], job_environ(tmp_path, SOVEREIGN_JOB_KIND="quantize"), capsys)
    assert rc == 2
    assert "--scheme" in err and "'int8'" in err


def test_given_an_unknown_eval_task_when_parsed_then_exit_2_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(["eval", "--tasks=team-dataset,mmlu"], job_environ(tmp_path, SOVEREIGN_JOB_KIND="eval"), capsys)
    assert rc == 2
    assert "--tasks" in err and '"mmlu"' in err


def test_given_a_negative_number_when_parsed_then_exit_2_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(["lora", "--lora-r=-4"], job_environ(tmp_path), capsys)
    assert rc == 2 and '"-4"' in err


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--dry", "lora"], "--dry"),
        (["lora", "--epoch=2"], "--epoch=2"),
        (["quantize", "--calibration=8"], "--calibration=8"),
        (["eval", "--max-new=8"], "--max-new=8"),
    ],
)
def test_given_an_abbreviated_flag_when_parsed_then_exit_2_naming_it(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A prefix of a flag is not that flag: a later flag sharing the prefix would change its meaning.
    kind = argv[1] if argv[0] == "--dry" else argv[0]
    rc, _, err = run(argv, job_environ(tmp_path, SOVEREIGN_JOB_KIND=kind), capsys)
    assert rc == 2 and f"unrecognized arguments: {flag}" in err


def test_given_no_subcommand_when_parsed_then_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run([], job_environ(tmp_path), capsys)
    assert rc == 2 and "required" in err


def test_given_many_bad_variables_when_checked_then_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job_environ(
        tmp_path,
        SOVEREIGN_JOB_KIND="eval",
        MODEL_URI="https://models.example/llama",
        DATASET_URI=None,
        CHECKPOINT_ON_SIGTERM="maybe",
        RESUME_FROM_CHECKPOINT="latest",
        AWS_ENDPOINT_URL_S3="objects:8333",
        HOME="scratch",
    )
    rc, _, err = run(["lora"], env, capsys)
    assert rc == 2
    for expected in [
        'SOVEREIGN_JOB_KIND to match the command "lora", found "eval"',
        'MODEL_URI to be an s3://bucket/key URI, found "https://models.example/llama"',
        "DATASET_URI (an s3:// URI) for a lora job, found nothing",
        'CHECKPOINT_ON_SIGTERM to be true or false, found "maybe"',
        'RESUME_FROM_CHECKPOINT to be auto, never or an s3:// URI, found "latest"',
        'AWS_ENDPOINT_URL_S3 to be an http(s) URL, found "objects:8333"',
        'HOME (the scratch volume) to be an absolute path, found "scratch"',
    ]:
        assert expected in err


def test_given_an_unexpanded_bucket_variable_when_checked_then_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job_environ(tmp_path, OUTPUT_URI="s3://$(SOVEREIGN_BUCKET_MODELS)/teams/research/x/")
    rc, _, err = run(["lora"], env, capsys)
    assert rc == 2
    assert "OUTPUT_URI" in err and "$(SOVEREIGN_BUCKET_MODELS)" in err and "training-env" in err


def test_given_awq_without_a_dataset_when_checked_then_exit_2_asking_for_calibration_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job_environ(tmp_path, SOVEREIGN_JOB_KIND="quantize", DATASET_URI=None)
    rc, _, err = run(["quantize", "--scheme=awq"], env, capsys)
    assert rc == 2 and "DATASET_URI" in err and "AWQ" in err
    rc, _, err = run(["--dry-run", "quantize", "--scheme=fp8"], env, capsys)
    assert rc == 0, err


def test_given_output_inside_the_model_prefix_when_checked_then_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job_environ(tmp_path, OUTPUT_URI="s3://acme-models/llama-3.1-8b-instruct/out/")
    rc, _, err = run(["lora"], env, capsys)
    assert rc == 2 and 'found "s3://acme-models/llama-3.1-8b-instruct/out/"' in err


def test_given_a_dataset_prefix_instead_of_a_file_when_checked_then_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job_environ(tmp_path, DATASET_URI="s3://acme-datasets/teams/research/support/")
    rc, _, err = run(["lora"], env, capsys)
    assert rc == 2 and 'prefix "s3://acme-datasets/teams/research/support/"' in err


def test_given_the_package_when_every_module_is_imported_then_no_heavy_library_is_loaded() -> None:
    code = (
        "import sys\n"
        "import sovereign_train.cli, sovereign_train.s3, sovereign_train.checkpoint, sovereign_train.data\n"
        "import sovereign_train.lora, sovereign_train.quantize, sovereign_train.evaluate\n"
        "heavy = [m for m in ('torch','transformers','peft','datasets','llmcompressor','accelerate') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=TRAINER_DIR, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_given_the_module_entry_when_run_with_a_bad_flag_then_the_process_exits_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sovereign_train", "quantize", "--scheme=nf4"],
        cwd=TRAINER_DIR,
        check=False,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "'nf4'" in out.stderr


def test_given_a_bad_keep_checkpoints_when_parsed_then_exit_2_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run(["lora", "--keep-checkpoints=two"], job_environ(tmp_path), capsys)
    assert rc == 2 and '"two"' in err
    rc, out, err = run(["--dry-run", "lora", "--keep-checkpoints=0"], job_environ(tmp_path), capsys)
    assert rc == 0 and json.loads(out)["args"]["keep_checkpoints"] == 0
