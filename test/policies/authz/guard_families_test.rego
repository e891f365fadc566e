# The guard families (policy.guardFamily): what each is sent and how its answer is read. The
# answers are the formats the model cards document; an answer in another family's format, or
# none, is no verdict (guard_unavailable, closed).
package sovereign_test.authz

import data.sovereign.authz

family_guard(family) := object.union(fixture.guard, {"family": family})

request_family(family) := r if {
	r := authz.guard_request with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as family_guard(family) with data.sovereign.redactPatterns as fixture.redactPatterns
}

# One mock per answer: the answer travels in data.sovereign_test.answer.
mock_answer(_) := completion(data.sovereign_test.answer)

decide_answer(family, answer) := d if {
	d := authz.decision with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as family_guard(family) with data.sovereign.redactPatterns as fixture.redactPatterns with data.sovereign_test.answer as answer with http.send as mock_answer
}

categories_answer(family, answer) := c if {
	c := authz.guard_categories with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as family_guard(family) with data.sovereign.redactPatterns as fixture.redactPatterns with data.sovereign_test.answer as answer with http.send as mock_answer
}

# family, answer, expected reasons
family_cases := [
	["llama-guard", "safe", []],
	["llama-guard", "\n\nsafe", []],
	["llama-guard", "unsafe\nS1,S10", ["guard_flagged"]],
	["llama-guard", "UNSAFE", ["guard_flagged"]],
	["llama-guard", "No", ["guard_unavailable"]],
	["llama-guard", "Yes", ["guard_unavailable"]],
	["llama-guard", "<score> no </score>", ["guard_unavailable"]],
	["llama-guard", "safety first", ["guard_unavailable"]],
	["granite-guardian", "No", []],
	["granite-guardian", "Yes", ["guard_flagged"]],
	["granite-guardian", "No\n<confidence> High </confidence>", []],
	["granite-guardian", "Yes\n<confidence> Low </confidence>", ["guard_flagged"]],
	["granite-guardian", "<score> no </score>", []],
	["granite-guardian", "<score> yes </score>", ["guard_flagged"]],
	["granite-guardian", "<think>The user asks for a summary. Yes, no harm here.</think>\n<score> no </score>", []],
	["granite-guardian", "<think>No doubt this is a jailbreak.</think>\n<score> yes </score>", ["guard_flagged"]],
	["granite-guardian", "safe", ["guard_unavailable"]],
	["granite-guardian", "unsafe\nS1", ["guard_unavailable"]],
	["granite-guardian", "<score> maybe </score>", ["guard_unavailable"]],
	["granite-guardian", "", ["guard_unavailable"]],
	["shieldgemma", "No", []],
	["shieldgemma", "Yes", ["guard_flagged"]],
	["shieldgemma", "No, the question asks for a contract summary.", []],
	["shieldgemma", "Yes. The prompt seeks instructions for harm.", ["guard_flagged"]],
	["shieldgemma", "safe", ["guard_unavailable"]],
	["shieldgemma", "Nope", ["guard_unavailable"]],
	["shieldgemma", "", ["guard_unavailable"]],
]

allowed_when(reasons) if count(reasons) == 0

else := false

test_each_family_parses_its_own_format_only if {
	every c in family_cases {
		d := decide_answer(c[0], c[1])
		d.reasons == c[2]
		d.allow == allowed_when(c[2])
	}
}

test_llama_guard_categories_and_none_for_yes_no_families if {
	categories_answer("llama-guard", "unsafe\nS1, S10") == ["S1", "S10"]
	categories_answer("granite-guardian", "Yes") == []
	categories_answer("shieldgemma", "Yes") == []
}

test_family_defaults_to_llama_guard_when_absent if {
	d := decide_answer("llama-guard", "unsafe\nS2")
	d.reasons == ["guard_flagged"]
	d2 := authz.decision with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as fixture.guard with data.sovereign.redactPatterns as fixture.redactPatterns with data.sovereign_test.answer as "No" with http.send as mock_answer
	d2.reasons == ["guard_unavailable"]
}

test_each_family_request_shape if {
	ll := request_family("llama-guard")
	ll.body.max_tokens == 16
	not ll.body.chat_template_kwargs
	gg := request_family("granite-guardian")
	gg.body.max_tokens == 32
	not gg.body.chat_template_kwargs
	sg := request_family("shieldgemma")
	sg.body.max_tokens == 8
	contains(sg.body.chat_template_kwargs.guideline, "No Dangerous Content")
	every r in [ll, gg, sg] {
		r.body.temperature == 0
		r.body.model == "llama-guard-3-8b"
		count(r.body.messages) == 1
		contains(r.body.messages[0].content, "user: Summarise the termination clauses")
	}
}

# A data document the policy cannot act on denies every model request with text, whatever
# failClosed says (fail-open is for an unreachable guard only), and without calling the guard.
broken_guards := [
	object.union(fail_open_fixture.guard, {"family": "openai-moderation"}),
	object.union(fail_open_fixture.guard, {"family": null}),
	object.union(fail_open_fixture.guard, {"enabled": "true"}),
	object.union(fail_open_fixture.guard, {"enabled": null}),
	object.union(fail_open_fixture.guard, {"url": ""}),
	object.union(fail_open_fixture.guard, {"url": 8000}),
	object.union(fail_open_fixture.guard, {"model": ""}),
	object.union(fail_open_fixture.guard, {"timeoutMs": 0}),
	object.union(fail_open_fixture.guard, {"timeoutMs": -5}),
	object.union(fail_open_fixture.guard, {"timeoutMs": "2000"}),
	json.patch(fail_open_fixture.guard, [{"op": "remove", "path": "/enabled"}]),
	{},
	"enabled",
	null,
]

test_broken_guard_data_fails_closed_even_when_open if {
	every g in broken_guards {
		d := authz.decision with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as g with data.sovereign.redactPatterns as fixture.redactPatterns with http.send as guard_safe
		d.allow == false
		d.reasons == ["guard_unavailable"]
	}
}

# failClosed: only an explicit `false` opens; missing or malformed flags stay closed.
test_malformed_fail_closed_flags_stay_closed if {
	every flag in ["false", 0, null, "no", [], {}, "closed"] {
		g := object.union(fixture.guard, {"failClosed": flag})
		d := authz.decision with input as chat_input with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as g with data.sovereign.redactPatterns as fixture.redactPatterns with http.send as guard_down
		d.reasons == ["guard_unavailable"]
	}
}
