"""The chained run's transitions (sovereign_train.flywheel_loop.run_chain) over injected stages:
where it stops, what it records, and that every transition is one audit event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import pytest

from sovereign_train import BadInput
from sovereign_train.flywheel_cli import build_parser
from sovereign_train.flywheel_loop import TRANSITION, Stages, exit_code, read_incumbent_file, run_chain
from sovereign_train.gate import evaluate_gate

THRESHOLDS = {"maxPerplexityRegression": 0.05, "minExactMatchGain": 0.0, "maxGuardFlagRateIncrease": 0.0}
SETS = {"eval_sha256": "e" * 64, "safety_sha256": "s" * 64}
DS: dict[str, Any] = {"outcome": "built", "version": "v1", "uri": "s3://d/v1/", "counts": {"kept": 5}, "files": {}}


def stages(calls: list[str], ds: dict[str, Any] = DS, cand_ppl: float = 9.0, fail: str | None = None) -> Stages:
    # A stub stage: records its call, fails when asked to, else returns `out` (or `out(*args)`).
    def step(name: str, out: dict[str, Any] | Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def f(*a: object) -> dict[str, Any]:
            calls.append(name)
            if name == fail:
                raise RuntimeError(f"{name} broke")
            return out(*a) if callable(out) else out

        return f

    metrics = {
        "candidate": {"perplexity": cand_ppl, "exact_match": 0.5, "guard_flag_rate": 0.0, **SETS},
        "incumbent": {"perplexity": 10.0, "exact_match": 0.5, "guard_flag_rate": 0.0, **SETS},
    }
    return Stages(
        dataset=step("dataset", ds),
        train=step("train", {"uri": "s3://m/adapter/"}),
        quantize=step("quantize", lambda c, s: {"uri": f"s3://m/{s}/"}),
        evaluate=step("evaluate", lambda who, d: metrics[who]),
        gate=step("gate", lambda c, i: evaluate_gate(c, i, THRESHOLDS)),
    )


def path(record: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["from"], e["to"], e["reason"]) for e in record["events"]]


def test_given_too_few_new_records_when_run_then_nothing_is_trained_and_one_event_says_why() -> None:
    calls: list[str] = []
    r = run_chain(stages(calls, ds={"outcome": "below_threshold", "new": 3, "min_new_records": 10}))
    assert calls == ["dataset"]
    assert path(r) == [("dataset", "idle", "below_threshold")]
    assert r["events"][0]["new"] == 3 and r["outcome"] == "below_threshold" and exit_code(r) == 0


def test_given_a_better_candidate_when_run_then_every_stage_runs_in_order_and_it_passes_the_gate() -> None:
    calls: list[str] = []
    r = run_chain(stages(calls), now=lambda: "T")
    assert calls == ["dataset", "train", "evaluate", "evaluate", "gate"]
    assert path(r) == [
        ("dataset", "train", "built"),
        ("train", "evaluate", "trained"),
        ("evaluate", "gate", "evaluated"),
        ("gate", "candidate", "gate_passed"),
    ]
    assert all(e["type"] == TRANSITION and e["at"] == "T" for e in r["events"])
    assert r["outcome"] == "candidate" and r["gate"]["passed"] is True and exit_code(r) == 0
    assert r["dataset"]["version"] == "v1" and r["candidate"]["uri"] == "s3://m/adapter/"


def test_given_quantize_configured_when_run_then_the_quantize_stage_sits_between_train_and_evaluate() -> None:
    calls: list[str] = []
    r = run_chain(stages(calls), quantize="fp8")
    assert calls == ["dataset", "train", "quantize", "evaluate", "evaluate", "gate"]
    assert path(r)[1:3] == [("train", "quantize", "trained"), ("quantize", "evaluate", "quantized")]
    assert r["quantized"]["uri"] == "s3://m/fp8/"


def test_given_a_worse_candidate_when_run_then_it_is_rejected_naming_the_failed_check() -> None:
    r = run_chain(stages([], cand_ppl=11.0))
    assert path(r)[-1] == ("gate", "rejected", "gate_failed")
    assert r["events"][-1]["failed"] == ["perplexity"]
    assert r["outcome"] == "rejected" and exit_code(r) == 1


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_given_a_stage_that_fails_when_run_then_the_run_stops_there_with_a_failed_event(stage: str) -> None:
    calls: list[str] = []
    r = run_chain(stages(calls, fail=stage))
    assert calls[-1] == stage and "gate" not in calls
    assert path(r)[-1] == (stage, "failed", f"{stage}_failed")
    assert f"{stage} broke" in r["events"][-1]["error"]
    assert r["outcome"] == "failed" and exit_code(r) == 1


def test_given_bad_input_in_a_stage_when_run_then_it_propagates_for_exit_2() -> None:
    def bad() -> NoReturn:
        raise BadInput("expected X")

    s = stages([])
    with pytest.raises(BadInput):
        run_chain(Stages(bad, s.train, s.quantize, s.evaluate, s.gate))


def test_given_the_cronjobs_flags_when_parsed_then_loop_accepts_them() -> None:
    a = build_parser().parse_args(
        [
            "loop",
            "--adapter=a",
            "--days=30",
            "--min-new-records=5",
            "--quantize=awq",
            '--gate-thresholds={"minExactMatchGain":0}',
        ]
    )
    assert (a.command, a.quantize, a.min_new_records) == ("loop", "awq", 5)


def with_controller(s: Stages, calls: list[str], final: dict[str, Any]) -> Stages:
    """The stages with a controller that registers and ends the canary in `final`."""

    def register(record: dict[str, Any]) -> dict[str, Any]:
        calls.append("register")
        return {"registered": "v1", "passed": record["gate"]["passed"]}

    def canary(record: dict[str, Any]) -> dict[str, Any]:
        calls.append("canary")
        return final

    def incumbent() -> dict[str, Any]:
        calls.append("incumbent")
        return {"version": "v0", "uri": "s3://m/v0/"}

    return Stages(
        s.dataset,
        s.train,
        s.quantize,
        s.evaluate,
        s.gate,
        incumbent=incumbent,
        register=register,
        canary=canary,
        meta={"team": "t", "adapter": "a", "baseModel": "b"},
    )


def test_given_a_controller_when_the_candidate_passes_then_it_is_registered_canaried_and_promoted() -> None:
    calls: list[str] = []
    final = {"phase": "promoted", "version": "v1", "totals": {"requests": 20, "errors": 0, "guardFlags": 0}}
    r = run_chain(with_controller(stages(calls), calls, final))
    assert calls == ["dataset", "train", "incumbent", "evaluate", "evaluate", "gate", "register", "canary"]
    assert path(r)[-3:] == [
        ("gate", "candidate", "gate_passed"),
        ("candidate", "canary", "registered"),
        ("canary", "promoted", "window_passed"),
    ]
    assert r["team"] == "t" and r["incumbent"] == {"version": "v0", "uri": "s3://m/v0/"}
    assert r["outcome"] == "promoted" and exit_code(r) == 0


def test_given_a_controller_when_the_canary_rolls_back_then_the_run_says_why_and_exits_1() -> None:
    final = {"phase": "rolled_back", "version": "v1", "reason": "error_rate", "totals": {"requests": 9, "errors": 3}}
    r = run_chain(with_controller(stages([]), [], final))
    assert path(r)[-1] == ("canary", "rolled_back", "error_rate")
    assert r["outcome"] == "rolled_back" and exit_code(r) == 1


def test_given_a_controller_when_the_gate_fails_then_the_candidate_is_registered_but_never_canaried() -> None:
    calls: list[str] = []
    r = run_chain(with_controller(stages(calls, cand_ppl=11.0), calls, {"phase": "promoted"}))
    assert calls[-2:] == ["gate", "register"]
    assert path(r)[-1] == ("gate", "rejected", "gate_failed")
    assert r["registry"] == {"registered": "v1", "passed": False} and exit_code(r) == 1


def test_given_a_canary_that_ends_in_no_final_phase_when_run_then_the_stage_fails() -> None:
    r = run_chain(with_controller(stages([]), [], {"phase": "canary"}))
    assert path(r)[-1] == ("canary", "failed", "canary_failed") and r["outcome"] == "failed"


def test_given_guard_answers_when_read_then_only_safe_or_unsafe_on_the_first_line_is_a_verdict() -> None:
    from sovereign_train.safety_set import PROMPTS, GuardError, safety_sha256, verdict

    assert verdict("unsafe\nS1") is True and verdict("\n safe \n") is False
    with pytest.raises(GuardError, match="safe"):
        verdict("I cannot judge that")
    assert len(set(PROMPTS)) == len(PROMPTS) >= 10
    assert safety_sha256() != safety_sha256(PROMPTS[:-1])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"version": null, "uri": null}\n', {"version": None, "uri": None}),
        ('{"version": "v1", "uri": "s3://m/teams/t/flywheel/a/v1/adapter/"}\n', None),
    ],
)
def test_given_the_init_containers_file_when_read_then_it_is_the_incumbent(
    tmp_path: Any, content: str, expected: dict[str, Any] | None
) -> None:
    f = tmp_path / "incumbent.json"
    f.write_text(content)
    import json

    assert read_incumbent_file(str(f)) == (expected or json.loads(content))


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "cannot read"),
        ("", "expected"),
        ("not json\n", "expected the controller's JSON"),
        ('{"version": "v1"}\n', '"version", "uri"'),
        ('{"version": "v1", "uri": null}\n', "both strings or both null"),
        ('{"version": "v1", "uri": "/local/path"}\n', "s3:// URI"),
    ],
)
def test_given_a_missing_or_malformed_incumbent_file_when_read_then_bad_input_names_it(
    tmp_path: Any, content: str | None, named: str
) -> None:
    f = tmp_path / "incumbent.json"
    if content is not None:
        f.write_text(content)
    with pytest.raises(BadInput, match="FLYWHEEL_INCUMBENT_FILE") as e:
        read_incumbent_file(str(f))
    assert named in str(e.value)
