"""The dataset builder's pure logic: selection (consent, guard, policy, chat shape), re-redaction,
exact and near dedup, and a train/eval split that depends on nothing but the record."""

import random
from typing import Any

import pytest
from flywheel_fixtures import capture

from sovereign_train import BadInput
from sovereign_train.flywheel_dataset import Builder, Decide, Kept, chat_of, split_of
from sovereign_train.redact import REDACTED, Redactor


def allow_all(team: str, source: str, cls: str) -> tuple[bool, list[str]]:
    return True, []


def build(
    records: list[dict[str, Any]], decide: Decide = allow_all, after: str | None = None
) -> tuple[Builder, list[Kept]]:
    b = Builder("research", decide, Redactor(), {"llama-chat": "internal"}, after=after)
    kept = [k for k in (b.feed(r) for r in records) if k is not None]
    return b, kept


def test_given_clean_captures_when_built_then_each_becomes_a_chat_ending_with_the_answer() -> None:
    b, kept = build([capture(i) for i in range(5)])
    assert b.stats.kept == 5 and b.stats.excluded == {}
    assert kept[3].messages == [
        {"role": "user", "content": "What is 3 plus 3?"},
        {"role": "assistant", "content": "6"},
    ]
    assert b.highest_classification() == "internal"


def test_given_records_of_every_exclusion_when_built_then_each_is_counted_under_its_reason() -> None:
    recs = [
        capture(1),
        {"ts": "x"},  # malformed
        capture(2, team="finance"),
        capture(3, endpoint="/v1/embeddings"),
        capture(4, response={"choices": [{"message": {"role": "assistant", "content": None}}]}),
        capture(5, trainingConsent=False),
        capture(6, guardFlagged=True),
        capture(7, model="unknown-model"),
        capture(8, classification="restricted"),
        capture(1, requestId="again"),  # exact duplicate of 1
        capture(
            9,
            request={"messages": [{"role": "user", "content": "what IS 1 plus 1 ?!"}]},
            response={"choices": [{"message": {"role": "assistant", "content": "2"}}]},
        ),
        capture(
            10,
            request={"messages": [{"role": "user", "content": "What is 1   plus 1?"}]},
            response={"choices": [{"message": {"role": "assistant", "content": "2"}}]},
        ),
    ]

    def decide(team: str, source: str, cls: str) -> tuple[bool, list[str]]:
        return (cls != "restricted", [] if cls != "restricted" else ["clearance_insufficient"])

    b, _kept = build(recs, decide)
    assert b.stats.excluded == {
        "malformed": 1,
        "team_mismatch": 1,
        "not_chat": 2,
        "consent_opt_out": 1,
        "guard_flagged": 1,
        "classification_unknown": 1,
        "policy:clearance_insufficient": 1,
        "duplicate_exact": 1,
        "duplicate_near": 2,  # 9 and 10 are capture 1 with case, spaces and punctuation changed
    }
    assert b.stats.read == len(recs) and b.stats.kept == 1
    assert b.stats.kept + sum(b.stats.excluded.values()) == b.stats.read


def test_given_content_free_records_of_the_gateway_when_built_then_they_count_as_opt_out_and_flagged() -> None:
    # gateway/src/pipeline/capture.ts: an opted-out request and a flagged answer carry no content.
    recs = [
        capture(1, request=None, response=None, trainingConsent=False),
        capture(2, request=None, response=None, guardFlagged=True),
        capture(3),
    ]
    b, _kept = build(recs)
    assert b.stats.excluded == {"consent_opt_out": 1, "guard_flagged": 1}
    assert b.stats.kept == 1


def test_given_consent_true_or_absent_when_built_then_the_record_is_kept() -> None:
    b, _kept = build([capture(1, trainingConsent=True), capture(2)])
    assert b.stats.kept == 2


def test_given_many_records_of_few_sources_when_built_then_the_policy_is_asked_once_per_tuple() -> None:
    asked: list[tuple[str, str, str]] = []

    def decide(team: str, source: str, cls: str) -> tuple[bool, list[str]]:
        asked.append((team, source, cls))
        return True, []

    recs = [capture(i, model=m, classification=c) for i in range(300) for m, c in [("a", "public"), ("b", "internal")]]
    b, _ = build(recs, decide)
    assert sorted(asked) == [("research", "captures/a", "public"), ("research", "captures/b", "internal")]
    assert b.policy.calls == 2


def test_given_a_secret_in_a_capture_when_built_then_it_is_redacted_again_before_dedup() -> None:
    _b, kept = build([capture(1, request={"messages": [{"role": "user", "content": "mail bob@example.com now"}]})])
    assert kept[0].messages[0]["content"] == f"mail {REDACTED} now"


def test_given_a_configured_pattern_re2_cannot_run_in_linear_time_then_it_is_refused_by_name() -> None:
    with pytest.raises(BadInput, match=r'pattern #4 .*linear-time.*found "\(a\)\\1": invalid escape sequence'):
        Redactor([r"(a)\1"])


def test_given_a_hostile_input_when_redacted_then_time_is_linear() -> None:
    # (a+)+$ backtracks exponentially in a backtracking engine; RE2 does not. 30k chars of 'a'
    # followed by '!' would not finish with Python's re.
    r = Redactor([r"(a+)+$"], builtin=False)
    assert r.text("a" * 30000 + "!") == "a" * 30000 + "!"
    assert r.text("xaaa") == "x" + REDACTED


def test_given_the_same_records_in_any_order_when_split_then_each_lands_on_the_same_side() -> None:
    recs = [capture(i) for i in range(400)]
    _, a = build(recs)
    shuffled = recs[:]
    random.Random(7).shuffle(shuffled)
    _, b = build(shuffled[:250])
    side = {k.digest: k.split for k in a}
    assert all(side[k.digest] == k.split for k in b)
    evals = sum(1 for k in a if k.split == "eval")
    assert 20 <= evals <= 60  # ~10 % of 400


def test_given_split_of_when_the_fraction_moves_then_the_boundary_is_the_hash_prefix() -> None:
    assert split_of("00000000" + "f" * 56, 0.1) == "eval"
    assert split_of("19999999" + "0" * 56, 0.1) == "eval"
    assert split_of("1999999a" + "0" * 56, 0.1) == "train"
    assert split_of("00000000" + "0" * 56, 0.0) == "train"


def test_given_the_after_watermark_when_built_then_only_newer_kept_records_count_as_new() -> None:
    b, _ = build([capture(i) for i in range(10)], after="2026-12-05T10:00:04.000Z")
    assert b.stats.new_kept == 5


def test_given_openai_content_parts_when_converted_then_text_parts_are_joined_and_images_refused() -> None:
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}
    resp = {"choices": [{"message": {"role": "assistant", "content": "c"}}]}
    chat = chat_of(parts, resp)
    assert chat is not None and chat[0]["content"] == "ab"
    img = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert chat_of(img, resp) is None
    tool = {"messages": [{"role": "tool", "content": "x"}]}
    assert chat_of(tool, resp) is None
