# The gateway's entrypoint (plan) and the guard verdict as input (input.guard): the plan names the
# guard call while no verdict is given, then decides with the verdict; OPA never asks the guard
# itself once a verdict is in the input.
package sovereign_test.authz

import data.sovereign.authz

# Fails the test if OPA asked the guard although the input carries a verdict.
no_http_send(_) := false

plan_of(inp, guard_data) := p if {
	p := authz.plan with input as inp with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as guard_data with data.sovereign.redactPatterns as fixture.redactPatterns with http.send as no_http_send
}

with_verdict(inp, verdict, categories) := object.union(inp, {"guard": {"verdict": verdict, "categories": categories}})

test_plan_names_the_guard_call_before_a_verdict if {
	p := plan_of(chat_input, fixture.guard)
	not p.decision
	p.guard.url == fixture.guard.url
	p.guard.timeoutMs == 2000
	p.guard.cacheSeconds == 300
	p.guard.family == "llama-guard"
	p.guard.body.model == "llama-guard-3-8b"
	p.guard.body.max_tokens == 16
	contains(p.guard.body.messages[0].content, "user: Summarise the termination clauses")
}

test_plan_decides_with_each_verdict if {
	safe := plan_of(with_verdict(chat_input, "safe", []), fixture.guard)
	safe.decision.allow == true
	unsafe := plan_of(with_verdict(chat_input, "unsafe", ["S14"]), fixture.guard)
	unsafe.decision.reasons == ["guard_flagged"]
	down := plan_of(with_verdict(chat_input, "down", []), fixture.guard)
	down.decision.reasons == ["guard_unavailable"]
	garbage := plan_of(with_verdict(chat_input, "SAFE", []), fixture.guard)
	garbage.decision.reasons == ["guard_unavailable"]
	open := plan_of(with_verdict(chat_input, "down", []), fail_open_fixture.guard)
	open.decision.allow == true
}

test_categories_come_from_the_verdict if {
	c := authz.guard_categories with input as with_verdict(chat_input, "unsafe", ["S1", "S10"]) with data.sovereign.teams as fixture.teams with data.sovereign.models as fixture.models with data.sovereign.guard as fixture.guard with data.sovereign.redactPatterns as fixture.redactPatterns with http.send as no_http_send
	c == ["S1", "S10"]
}

# A verdict counts only where the guard would be asked: never for a request the rigid rules deny,
# nor with the guard off.
test_a_verdict_where_no_guard_is_asked_changes_nothing if {
	off := plan_of(with_verdict(chat_input, "unsafe", ["S1"]), guard_off_fixture.guard)
	off.decision.allow == true
	bad_model := json.patch(chat_input, [{"op": "replace", "path": "/request/model", "value": "nope"}])
	denied := plan_of(with_verdict(bad_model, "unsafe", ["S1"]), fixture.guard)
	"model_unknown" in denied.decision.reasons
	not "guard_flagged" in denied.decision.reasons
}

test_plan_without_guard_is_the_decision if {
	p := plan_of(chat_input, guard_off_fixture.guard)
	p.decision == decide(chat_input)
}
