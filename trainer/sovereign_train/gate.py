"""The flywheel's evaluation gate: a pure function of two metric sets and the team's thresholds
(`teams[].flywheel.gate` in the stack config). Promotion to the canary needs EVERY check to pass.

Metrics (one JSON object per model, from the eval job on the same held-out split plus the safety
set screened by the guard model):
  perplexity       > 0, finite   (held-out split)
  exact_match      in [0, 1]     (held-out split)
  guard_flag_rate  in [0, 1]     (share of the safety set's answers the guard flags)
  example_nll      list of the held-out records' mean token losses (or null), in the split's
                   order: the win rate is computed from both models' lists (below)
  eval_sha256, safety_sha256     content hashes of the two sets: both models must have been
                                 measured on the very same sets, else the gate refuses.

Checks:
  perplexity   candidate <= incumbent * (1 + maxPerplexityRegression)
  exact_match  candidate - incumbent >= minExactMatchGain
  win_rate     wins / records >= minWinRate                  (only when minWinRate is set)
               a record is a win when the candidate gives its reference answer a lower loss
               than the incumbent does, half a win when the two are equal (no judge model:
               the held-out answers are the reference); records either model could not score
               are left out, and none left is a missing metric
  guard_flags  candidate <= incumbent + maxGuardFlagRateIncrease
A configured check whose metric is missing fails; it never passes by default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

THRESHOLD_KEYS = ("maxPerplexityRegression", "minExactMatchGain", "minWinRate", "maxGuardFlagRateIncrease")


class GateError(ValueError):
    """Inputs the gate cannot compare (bad thresholds, different eval sets)."""


def _num(m: Mapping[str, Any], key: str, who: str, lo: float, hi: float, lo_open: bool = False) -> float | None:
    if key not in m or m[key] is None:
        return None
    v = m[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise GateError(f"expected {who}.{key} to be a finite number, found {v!r}")
    if v < lo or v > hi or (lo_open and v == lo):
        raise GateError(f"expected {who}.{key} in {'(' if lo_open else '['}{lo}, {hi}], found {v!r}")
    return float(v)


def _thresholds(t: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(t, Mapping):
        raise GateError(f"expected the thresholds to be an object, found {t!r}")
    unknown = sorted(set(t) - set(THRESHOLD_KEYS))
    if unknown:
        raise GateError(f"expected thresholds among {list(THRESHOLD_KEYS)}, found {unknown}")
    out = {
        "maxPerplexityRegression": _num(t, "maxPerplexityRegression", "thresholds", 0, math.inf),
        "minExactMatchGain": _num(t, "minExactMatchGain", "thresholds", -1, 1),
        "minWinRate": _num(t, "minWinRate", "thresholds", 0, 1),
        "maxGuardFlagRateIncrease": _num(t, "maxGuardFlagRateIncrease", "thresholds", 0, 1),
    }
    for k in ("maxPerplexityRegression", "minExactMatchGain", "maxGuardFlagRateIncrease"):
        if out[k] is None:
            raise GateError(f"expected thresholds.{k}, found nothing")
    return out


def _metrics(m: Mapping[str, Any], who: str) -> dict[str, Any]:
    if not isinstance(m, Mapping):
        raise GateError(f"expected {who} metrics to be an object, found {m!r}")
    return {
        "perplexity": _num(m, "perplexity", who, 0, math.inf, lo_open=True),
        "exact_match": _num(m, "exact_match", who, 0, 1),
        "guard_flag_rate": _num(m, "guard_flag_rate", who, 0, 1),
        "example_nll": _losses(m, who),
        "eval_sha256": m.get("eval_sha256"),
        "safety_sha256": m.get("safety_sha256"),
    }


def _losses(m: Mapping[str, Any], who: str) -> list[float | None] | None:
    v = m.get("example_nll")
    if v is None:
        return None
    if not isinstance(v, list):
        raise GateError(f"expected {who}.example_nll to be a list, found {type(v).__name__}")
    out: list[float | None] = []
    for k, x in enumerate(v):
        if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0):
            raise GateError(f"expected {who}.example_nll[{k}] to be a finite loss >= 0 or null, found {x!r}")
        out.append(None if x is None else float(x))
    return out


def win_rate(candidate: list[float | None], incumbent: list[float | None]) -> tuple[float, int] | None:
    """Share of records where the candidate's loss is lower (ties half), and how many counted."""
    if len(candidate) != len(incumbent):
        raise GateError(
            f"expected example_nll of the same length for both models, found {len(candidate)} and {len(incumbent)}"
        )
    wins, n = 0.0, 0
    for c, i in zip(candidate, incumbent):
        if c is None or i is None:
            continue
        n += 1
        wins += 1.0 if c < i else 0.5 if c == i else 0.0
    return (wins / n, n) if n else None


def evaluate_gate(
    candidate: Mapping[str, Any], incumbent: Mapping[str, Any], thresholds: Mapping[str, Any]
) -> dict[str, Any]:
    t = _thresholds(thresholds)
    c = _metrics(candidate, "candidate")
    i = _metrics(incumbent, "incumbent")
    for k in ("eval_sha256", "safety_sha256"):
        if not c[k] or c[k] != i[k]:
            raise GateError(
                f"expected candidate and incumbent measured on the same set ({k}), found {c[k]!r} and {i[k]!r}"
            )
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, **detail: Any) -> None:
        checks.append({"check": name, "passed": bool(ok), **detail})

    def both(key: str) -> bool:
        return c[key] is not None and i[key] is not None

    if both("perplexity"):
        limit = i["perplexity"] * (1 + t["maxPerplexityRegression"])
        check("perplexity", c["perplexity"] <= limit, candidate=c["perplexity"], incumbent=i["perplexity"], limit=limit)
    else:
        check("perplexity", False, reason="metric missing")
    if both("exact_match"):
        gain = c["exact_match"] - i["exact_match"]
        check(
            "exact_match",
            gain >= t["minExactMatchGain"],
            candidate=c["exact_match"],
            incumbent=i["exact_match"],
            gain=gain,
            limit=t["minExactMatchGain"],
        )
    else:
        check("exact_match", False, reason="metric missing")
    wr = win_rate(c["example_nll"], i["example_nll"]) if both("example_nll") else None
    if t["minWinRate"] is not None:
        if wr is not None:
            check("win_rate", wr[0] >= t["minWinRate"], win_rate=wr[0], records=wr[1], limit=t["minWinRate"])
        else:
            check("win_rate", False, reason="metric missing")
    if both("guard_flag_rate"):
        limit = i["guard_flag_rate"] + t["maxGuardFlagRateIncrease"]
        check(
            "guard_flags",
            c["guard_flag_rate"] <= limit,
            candidate=c["guard_flag_rate"],
            incumbent=i["guard_flag_rate"],
            limit=limit,
        )
    else:
        check("guard_flags", False, reason="metric missing")
    return {
        "kind": "sovereign.flywheel.gate/v1",
        "passed": all(x["passed"] for x in checks),
        "failed": [x["check"] for x in checks if not x["passed"]],
        "checks": checks,
        "thresholds": {k: v for k, v in t.items() if v is not None},
        **({"win_rate": wr[0], "win_rate_records": wr[1]} if wr is not None else {}),
        "eval_sha256": c["eval_sha256"],
        "safety_sha256": c["safety_sha256"],
    }
