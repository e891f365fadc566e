"""Gate arithmetic: every configured threshold must hold; a missing metric never passes."""

from pathlib import Path

import pytest

from sovereign_train.gate import GateError, evaluate_gate

T = {"maxPerplexityRegression": 0.05, "minExactMatchGain": 0.0, "maxGuardFlagRateIncrease": 0.0}
SETS = {"eval_sha256": "e1", "safety_sha256": "s1"}


def m(ppl: object, em: object, gfr: object, **kw: object) -> dict[str, object]:
    """A metrics object as the eval job writes it; values may be anything JSON holds."""
    return {"perplexity": ppl, "exact_match": em, "guard_flag_rate": gfr, **SETS, **kw}


def test_given_a_better_candidate_when_gated_then_it_passes_every_check() -> None:
    r = evaluate_gate(m(9.0, 0.6, 0.01), m(10.0, 0.5, 0.01), T)
    assert r["passed"] and r["failed"] == []
    assert [c["check"] for c in r["checks"]] == ["perplexity", "exact_match", "guard_flags"]


@pytest.mark.parametrize(
    "cand,failed",
    [
        (m(10.5, 0.5, 0.01), []),  # exactly at the 5 % regression limit
        (m(10.51, 0.5, 0.01), ["perplexity"]),
        (m(10.0, 0.49, 0.01), ["exact_match"]),
        (m(10.0, 0.5, 0.011), ["guard_flags"]),
        (m(11.0, 0.4, 0.2), ["perplexity", "exact_match", "guard_flags"]),
    ],
)
def test_given_a_candidate_at_or_over_a_limit_when_gated_then_exactly_those_checks_fail(
    cand: dict[str, object], failed: list[str]
) -> None:
    r = evaluate_gate(cand, m(10.0, 0.5, 0.01), T)
    assert r["failed"] == failed and r["passed"] == (failed == [])


def test_given_a_min_win_rate_when_the_metric_is_missing_or_low_then_the_gate_fails() -> None:
    t = {**T, "minWinRate": 0.55}
    inc = m(10, 0.5, 0, example_nll=[2.0, 2.0, 2.0, 2.0, 2.0])
    # 3 wins of 5 = 0.6 >= 0.55
    r = evaluate_gate(m(9, 0.6, 0, example_nll=[1.0, 1.5, 1.9, 2.5, 3.0]), inc, t)
    assert r["passed"] and r["win_rate"] == 0.6 and r["win_rate_records"] == 5
    # 2 wins of 5 = 0.4
    assert evaluate_gate(m(9, 0.6, 0, example_nll=[1.0, 1.5, 2.1, 2.5, 3.0]), inc, t)["failed"] == ["win_rate"]
    assert evaluate_gate(m(9, 0.6, 0), inc, t)["failed"] == ["win_rate"]
    assert evaluate_gate(m(9, 0.6, 0, example_nll=[1.0] * 5), m(10, 0.5, 0), t)["failed"] == ["win_rate"]


def test_given_ties_and_unscored_records_when_the_win_rate_is_computed_then_ties_count_half_and_gaps_are_left_out() -> (
    None
):
    t = {**T, "minWinRate": 0.5}
    # records 0..3: win, tie, loss, (unscored by the candidate) -> 1.5 / 3
    r = evaluate_gate(
        m(9, 0.6, 0, example_nll=[1.0, 2.0, 3.0, None]), m(10, 0.5, 0, example_nll=[2.0, 2.0, 2.0, 2.0]), t
    )
    assert r["win_rate"] == 0.5 and r["win_rate_records"] == 3 and r["passed"]
    r = evaluate_gate(m(9, 0.6, 0, example_nll=[None, 1.0]), m(10, 0.5, 0, example_nll=[2.0, None]), t)
    assert r["failed"] == ["win_rate"] and "win_rate" not in r


def test_given_loss_lists_of_different_lengths_or_bad_values_when_gated_then_it_refuses() -> None:
    with pytest.raises(GateError, match="same length"):
        evaluate_gate(m(9, 0.6, 0, example_nll=[1.0]), m(10, 0.5, 0, example_nll=[1.0, 2.0]), T)
    with pytest.raises(GateError, match=r"candidate\.example_nll\[1\]"):
        evaluate_gate(m(9, 0.6, 0, example_nll=[1.0, "x"]), m(10, 0.5, 0, example_nll=[1.0, 2.0]), T)
    with pytest.raises(GateError, match="incumbent.example_nll to be a list"):
        evaluate_gate(m(9, 0.6, 0), m(10, 0.5, 0, example_nll=3), T)


def test_given_a_missing_guard_metric_when_gated_then_it_fails_rather_than_passes() -> None:
    cand = m(9.0, 0.6, None)
    assert evaluate_gate(cand, m(10.0, 0.5, 0.0), T)["failed"] == ["guard_flags"]


def test_given_metrics_of_different_eval_sets_when_gated_then_it_refuses_to_compare() -> None:
    with pytest.raises(GateError, match="same set \\(eval_sha256\\)"):
        evaluate_gate(m(9, 0.6, 0), {**m(10, 0.5, 0), "eval_sha256": "other"}, T)


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({**T, "maxPerplexityRegression": -0.1}, r"thresholds.maxPerplexityRegression in \[0"),
        ({"minExactMatchGain": 0, "maxGuardFlagRateIncrease": 0}, "thresholds.maxPerplexityRegression, found nothing"),
        ({**T, "minWinrate": 0.5}, "found \\['minWinrate'\\]"),
    ],
)
def test_given_bad_thresholds_when_gated_then_the_error_names_the_key(bad: dict[str, float], msg: str) -> None:
    with pytest.raises(GateError, match=msg):
        evaluate_gate(m(9, 0.6, 0), m(10, 0.5, 0), bad)


def test_given_a_nan_perplexity_when_gated_then_it_is_refused_by_name() -> None:
    with pytest.raises(GateError, match="candidate.perplexity to be a finite number"):
        evaluate_gate(m(float("nan"), 0.6, 0), m(10, 0.5, 0), T)


def test_given_metric_files_when_the_gate_cli_runs_then_it_exits_0_or_1_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from sovereign_train.flywheel_cli import main

    def write(name: str, obj: object) -> str:
        p = tmp_path / name
        p.write_text(json.dumps(obj))
        return str(p)

    inc, th = write("i.json", m(10.0, 0.5, 0.01)), write("t.json", T)
    report = tmp_path / "report.json"
    argv = ["gate", f"--candidate={write('c.json', m(9.0, 0.6, 0.01))}", f"--incumbent={inc}", f"--thresholds={th}"]
    assert main(argv + [f"--report={report}"], {}) == 0
    assert json.loads(report.read_text())["passed"] is True
    bad = ["gate", f"--candidate={write('c2.json', m(12.0, 0.6, 0.01))}", f"--incumbent={inc}", f"--thresholds={th}"]
    capsys.readouterr()
    assert main(bad, {}) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == ["perplexity"]
    assert main(["gate", "--candidate=/nope.json", f"--incumbent={inc}", f"--thresholds={th}"], {}) == 2
    assert "expected --candidate to name a readable JSON file" in capsys.readouterr().err
