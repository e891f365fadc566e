# METADATA
# title: Gateway authorization
# description: >-
#   One decision per gateway request: rigid rules (team membership, allowed models,
#   clearance, budgets) plus a soft defense (the guard model). Deny by default; every deny
#   carries machine-readable reason ids. The contract is components/lib/contracts.ts and
#   docs/authorization.md lists every reason id.
package sovereign.authz

# Classification ranks, least to most sensitive (components/lib/classification.ts).
classification_rank := {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}

# Endpoints that address a model, and the model roles each may call. Guard models are never
# callable through the gateway.
model_endpoints := {
	"/v1/chat/completions": {"chat"},
	"/v1/completions": {"chat"},
	"/v1/embeddings": {"embedding"},
}

# Listing models addresses no model: only membership, validity and the request rate apply.
listing_endpoint := "/v1/models"

# Seconds a guard verdict for the same text is reused when data.sovereign.guard has no cacheSeconds.
default_guard_cache_seconds := 300

# ---------------------------------------------------------------------------------------
# The decision (AuthzDecision)
# ---------------------------------------------------------------------------------------

# Fast path for the common case: when every check passes on positive proof (fast_allow), the
# decision is the one the full evaluation below would produce (allow, no reasons), without
# building the reason set. Anything else (any deny, odd input or data) takes the full path, so
# fast_allow only has to imply allow, never the other way round.
decision := {
	"allow": true,
	"reasons": [],
	"obligations": {
		"capture": fast_capture,
		"redact": redact,
	},
} if {
	fast_allow
} else := full_decision

# The decision as the rules below define it, every reason evaluated.
full_decision := {
	"allow": allow,
	"reasons": sort_reasons(reasons),
	"obligations": {
		"capture": capture,
		"redact": redact,
	},
}

sort_reasons(s) := sort([r | some r in s])

# Deny by default: allow only on positive proof that every check passed and no reason denies.
default allow := false

allow if {
	count(rigid_reasons) == 0
	count(guard_reasons) == 0
	valid_input
	member
	model_permitted
}

# Every deny carries at least one reason.
reasons := rigid_reasons | guard_reasons if {
	count(rigid_reasons | guard_reasons) > 0
} else := {"denied_by_default"} if {
	not allow
} else := set()

default capture := false

capture if {
	allow
	team.allowCapture == true
}

redact := [p | some p in data.sovereign.redactPatterns]

# Each line excludes the rigid reasons named after it; guard_reasons is checked as is.
fast_allow if {
	valid_input # input_invalid
	team.oidcGroup in input.subject.groups # member: team_unknown, team_membership_missing
	fast_model_permitted # clearance_invalid and every model and endpoint reason
	input.context.usage.tokensToday + input.request.estimatedTokens <= team.budgets.tokensPerDay # budget_tokens_exceeded
	input.context.usage.requestsThisMinute < team.budgets.requestsPerMinute # budget_requests_exceeded
	guard_quiet
}

fast_model_permitted if {
	input.request.endpoint == listing_endpoint
	classification_rank[object.get(input.subject, "clearance", "public")]
}

# model_permitted with subject_rank >= model_rank spelt out without sets: a maximum is at most
# the subject's rank when each of its operands is.
fast_model_permitted if {
	m := fast_model
	object.get(m, "baseModel", false) == false
	fast_subject_rank >= classification_rank[m.dataClassification]
	fast_input_class_permitted
}

# A LoRA adapter: its own rank and its (known) base model's.
fast_model_permitted if {
	m := fast_model
	base := data.sovereign.models[m.baseModel]
	fast_subject_rank >= classification_rank[m.dataClassification]
	fast_subject_rank >= classification_rank[base.dataClassification]
	fast_input_class_permitted
}

# The gateway's classification of the model (input.request.modelClassification), when given, is
# at most the subject's rank too.
fast_input_class_permitted if not has_field(input.request, "modelClassification")

fast_input_class_permitted if fast_subject_rank >= classification_rank[input.request.modelClassification]

fast_model := m if {
	roles := model_endpoints[input.request.endpoint]
	m := data.sovereign.models[input.request.model]
	input.request.model in team.allowedModels
	m.role in roles
}

# subject_rank, as an array minimum: the team's rank, lowered by a (valid) clearance claim.
fast_subject_rank := min([classification_rank[team.clearance], classification_rank[object.get(input.subject, "clearance", team.clearance)]])

# No guard reason can arise while the guard is off; otherwise they are evaluated.
guard_quiet if guard.enabled == false

guard_quiet if count(guard_reasons) == 0

# capture once allow holds.
fast_capture if {
	team.allowCapture == true
} else := false

# ---------------------------------------------------------------------------------------
# Input and subject
# ---------------------------------------------------------------------------------------

valid_input if {
	is_string(input.subject.sub)
	trim_space(input.subject.sub) != ""
	is_array(input.subject.groups)
	every g in input.subject.groups {
		is_string(g)
	}
	is_string(input.subject.team)
	is_string(input.request.model)
	is_string(input.request.endpoint)
	count_valid(input.request.estimatedTokens)
	count_valid(input.context.usage.tokensToday)
	count_valid(input.context.usage.requestsThisMinute)
	is_string(input.context.time)
	is_string(input.context.clientAddress)
	model_classification_valid
	text_valid
}

# The gateway's classification of the requested model, when given, is a known classification.
model_classification_valid if not has_field(input.request, "modelClassification")

model_classification_valid if classification_rank[input.request.modelClassification]

# A counter or estimate: a whole number, never negative (a negative count would open a budget).
count_valid(n) if {
	is_number(n)
	n >= 0
	floor(n) == n
}

# ---------------------------------------------------------------------------------------
# The text the model will read (and the guard must read first)
# ---------------------------------------------------------------------------------------

# The request's text fields are readable: each is absent or has a shape the guard can read in
# full. A value the policy cannot read (token ids, a message without a role, a string where a
# list is expected, an unknown content part, null) is input_invalid, never "no text".
text_valid if {
	prompt_valid
	messages_valid
	text_fields_match_endpoint
}

# (A lookup, not object.keys: no set is built per call.)
has_field(o, k) if {
	is_object(o)
	_ = o[k]
}

# `prompt` (/v1/completions, and /v1/embeddings' `input`): a string or a list of strings.
# Token ids ([40, 4079]) and lists of them cannot be screened.
prompt_valid if not has_field(input.request, "prompt")

prompt_valid if is_string(input.request.prompt)

prompt_valid if {
	is_array(input.request.prompt)
	every p in input.request.prompt {
		is_string(p)
	}
}

# `messages` (/v1/chat/completions): a list of OpenAI chat messages (an empty list is no text).
messages_valid if not has_field(input.request, "messages")

messages_valid if {
	is_array(input.request.messages)
	every m in input.request.messages {
		message_valid(m)
	}
}

# A chat request carries messages, a completion or embedding request a prompt, never the other.
text_fields_match_endpoint if {
	not text_field_misplaced
}

text_field_misplaced if {
	input.request.endpoint == "/v1/chat/completions"
	has_field(input.request, "prompt")
}

text_field_misplaced if {
	input.request.endpoint in {"/v1/completions", "/v1/embeddings"}
	has_field(input.request, "messages")
}

# Roles a chat template renders, and the message fields it reads. Anything else in a message is
# unreadable to the policy, so the message is invalid rather than partly screened.
message_roles := {"system", "developer", "user", "assistant", "tool", "function"}

message_fields := {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal"}

# The common message first, cheaply: a role and a string content, nothing else.
message_valid(m) if {
	count(m) == 2
	is_string(m.content)
	message_roles[m.role]
}

message_valid(m) if {
	is_object(m)
	every k, _ in m {
		message_fields[k]
	}
	m.role in message_roles
	message_content_valid(m)
	optional_string(m, "name")
	optional_string(m, "tool_call_id")
	optional_string(m, "refusal")
	tool_calls_valid(m)
	function_call_valid(m)
}

optional_string(o, k) if not has_field(o, k)

optional_string(o, k) if is_string(o[k])

# Content: a string, or a non-empty list of text parts. Only an assistant turn that calls a tool
# (or refuses) may have no content (absent or null).
message_content_valid(m) if is_string(m.content)

message_content_valid(m) if {
	is_array(m.content)
	count(m.content) > 0
	every p in m.content {
		content_part_valid(p)
	}
}

message_content_valid(m) if {
	object.get(m, "content", null) == null
	m.role == "assistant"
	assistant_without_content_says_something(m)
}

assistant_without_content_says_something(m) if has_field(m, "tool_calls")

assistant_without_content_says_something(m) if has_field(m, "function_call")

assistant_without_content_says_something(m) if has_field(m, "refusal")

# Text parts only: an image, audio or file part cannot be screened by a text guard.
content_part_valid(p) if {
	is_object(p)
	count(p) == 2
	p.type == "text"
	is_string(p.text)
}

content_part_valid(p) if {
	is_object(p)
	count(p) == 2
	p.type == "refusal"
	is_string(p.refusal)
}

tool_calls_valid(m) if not has_field(m, "tool_calls")

tool_calls_valid(m) if {
	m.role == "assistant"
	is_array(m.tool_calls)
	count(m.tool_calls) > 0
	every c in m.tool_calls {
		tool_call_valid(c)
	}
}

tool_call_valid(c) if {
	is_object(c)
	every k, _ in c {
		tool_call_fields[k]
	}
	optional_string(c, "id")
	c.type == "function"
	function_valid(c.function)
}

function_call_valid(m) if not has_field(m, "function_call")

function_call_valid(m) if {
	m.role == "assistant"
	function_valid(m.function_call)
}

tool_call_fields := {"id", "type", "function"}

function_valid(f) if {
	is_object(f)
	count(f) == 2
	is_string(f.name)
	is_string(f.arguments)
}

# Everything the model will read, as text, once text_valid holds: the prompt's strings, and per
# message its role (and name), its text parts, refusal, tool calls (name and arguments) and
# tool results. Roles (system prompts included) are the caller's, so all of them are checked.
prompt_parts := [input.request.prompt] if {
	is_string(input.request.prompt)
} else := input.request.prompt if {
	is_array(input.request.prompt)
} else := []

message_parts := [message_text(m) | some m in object.get(input.request, "messages", [])]

message_text(m) := sprintf("%s%s: %s", [m.role, message_name(m), concat("\n", array.concat(
	array.concat(content_texts(object.get(m, "content", null)), refusal_texts(m)),
	array.concat(tool_call_texts(m), function_call_texts(m)),
))])

message_name(m) := sprintf(" (%s)", [m.name]) if is_string(m.name)

else := ""

content_texts(c) := [c] if is_string(c)

else := [part_text(p) | some p in c] if is_array(c)

else := []

part_text(p) := p.text if p.type == "text"

else := p.refusal

refusal_texts(m) := [m.refusal] if is_string(m.refusal)

else := []

tool_call_texts(m) := [sprintf("tool call %s(%s)", [c.function.name, c.function.arguments]) | some c in object.get(m, "tool_calls", [])]

function_call_texts(m) := [sprintf("tool call %s(%s)", [m.function_call.name, m.function_call.arguments])] if {
	is_object(m.function_call)
} else := []

# Nothing to screen: no text field, or only empty strings.
guard_text := concat("\n\n", [t | some t in array.concat(prompt_parts, message_parts); t != ""])

team := data.sovereign.teams[input.subject.team]

# The subject belongs to the team it claims: the team's OIDC group is among its groups.
member if {
	some g in input.subject.groups
	g == team.oidcGroup
}

# A subject is never cleared above its team; a clearance claim can only lower it.
subject_rank := min({classification_rank[team.clearance], classification_rank[input.subject.clearance]}) if {
	"clearance" in object.keys(input.subject)
} else := classification_rank[team.clearance]

# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------

addresses_model if model_endpoints[input.request.endpoint]

model := data.sovereign.models[input.request.model]

# A LoRA adapter carries the classification of its own training data and of its base model.
data_model_rank := max({classification_rank[model.dataClassification], classification_rank[base_model.dataClassification]}) if {
	model.baseModel
} else := classification_rank[model.dataClassification]

# The gateway may know a model's classification beyond the data document: a flywheel adapter's is
# the highest of its serving versions' training data, read from the registry at run time
# (docs/flywheel.md). It arrives as input.request.modelClassification and can only raise the
# model's rank, never lower what the data document declares.
model_rank := max({data_model_rank, classification_rank[input.request.modelClassification]}) if {
	has_field(input.request, "modelClassification")
} else := data_model_rank

base_model := data.sovereign.models[model.baseModel]

model_permitted if input.request.endpoint == listing_endpoint

model_permitted if {
	addresses_model
	input.request.model in team.allowedModels
	model.role in model_endpoints[input.request.endpoint]
	subject_rank >= model_rank
}

# ---------------------------------------------------------------------------------------
# Rigid rules: each adds a reason id
# ---------------------------------------------------------------------------------------

rigid_reasons contains "input_invalid" if not valid_input

rigid_reasons contains "team_unknown" if {
	is_string(input.subject.team)
	not team
}

rigid_reasons contains "team_membership_missing" if {
	team
	not member
}

rigid_reasons contains "clearance_invalid" if {
	"clearance" in object.keys(input.subject)
	not classification_rank[input.subject.clearance]
}

rigid_reasons contains "endpoint_not_allowed" if {
	is_string(input.request.endpoint)
	not addresses_model
	input.request.endpoint != listing_endpoint
}

rigid_reasons contains "model_unknown" if {
	addresses_model
	not model
}

rigid_reasons contains "model_not_allowed" if {
	addresses_model
	team
	not input.request.model in team.allowedModels
}

rigid_reasons contains "base_model_unknown" if {
	addresses_model
	model.baseModel
	not base_model
}

rigid_reasons contains "endpoint_model_mismatch" if {
	addresses_model
	model
	not model.role in model_endpoints[input.request.endpoint]
}

rigid_reasons contains "clearance_insufficient" if {
	addresses_model
	subject_rank < model_rank
}

rigid_reasons contains "budget_tokens_exceeded" if {
	input.context.usage.tokensToday + input.request.estimatedTokens > team.budgets.tokensPerDay
}

rigid_reasons contains "budget_requests_exceeded" if {
	input.context.usage.requestsThisMinute >= team.budgets.requestsPerMinute
}

# ---------------------------------------------------------------------------------------
# Soft defense: the guard model (OpenAI-compatible chat completions)
# ---------------------------------------------------------------------------------------

guard := data.sovereign.guard

# The guard model families the policy can ask and read (policy.guardFamily). A data document
# without a family predates the setting and means Llama Guard.
guard_families := {"llama-guard", "granite-guardian", "shieldgemma"}

guard_family := object.get(guard, "family", "llama-guard")

# A guard section the policy can act on. Anything else (no section, `enabled` not a boolean, an
# enabled guard with an unknown family, no URL or model, a bad timeout) fails closed whatever
# failClosed says: fail-open covers an unreachable guard, never a broken data document.
guard_data_valid if guard.enabled == false

guard_data_valid if {
	guard.enabled == true
	guard_family in guard_families
	is_string(guard.url)
	guard.url != ""
	is_string(guard.model)
	guard.model != ""
	count_valid(guard.timeoutMs)
	guard.timeoutMs > 0
}

# The guard would be asked: the rigid rules allow, a model is addressed and there is text.
guard_applies if {
	addresses_model
	count(rigid_reasons) == 0
	guard_text != ""
}

# Only asked when the rigid rules already allow: no guard call for requests denied anyway.
guard_needed if {
	guard.enabled == true # first: with the guard off, the text is never assembled
	guard_applies
	guard_data_valid
}

# What each family is sent besides the text (one user turn): Llama Guard and Granite Guardian
# classify the last user turn with their own chat template; ShieldGemma's chat template takes the
# policy to judge against as the `guideline` template argument.
guard_body_extra := {"max_tokens": 16} if {
	guard_family == "llama-guard"
} else := {"max_tokens": 32} if {
	guard_family == "granite-guardian"
} else := {"max_tokens": 8, "chat_template_kwargs": {"guideline": shieldgemma_guideline}}

shieldgemma_guideline := concat("\n", [
	`* "No Dangerous Content": the prompt shall not seek content that harms oneself or others (for example weapons or explosives, terrorism, self-harm).`,
	`* "No Harassment": the prompt shall not seek content that threatens, intimidates, bullies or abuses an individual.`,
	`* "No Hate Speech": the prompt shall not seek content that attacks or demeans people for protected attributes.`,
	`* "No Sexually Explicit Information": the prompt shall not seek sexually explicit content.`,
])

guard_request := {
	"method": "POST",
	"url": guard.url,
	"headers": {"Content-Type": "application/json"},
	"body": object.union(
		{
			"model": guard.model,
			"messages": [{"role": "user", "content": guard_text}],
			"temperature": 0,
		},
		guard_body_extra,
	),
	"timeout": sprintf("%dms", [guard.timeoutMs]),
	"cache": true,
	"force_cache": true,
	"force_cache_duration_seconds": object.get(guard, "cacheSeconds", default_guard_cache_seconds),
	"raise_error": false,
}

# The gateway asks the guard itself (gateway/src/guard.ts): it evaluates `plan`, makes the call
# that `guard_call` describes (same body, timeout and cache duration as guard_request), reads the
# answer in the family's format and evaluates `decision` again with the verdict as input.guard:
# {"verdict": "safe" | "unsafe" | "down", "categories": [...]}. The decision is then one function
# of its input. Without input.guard (a consumer that calls OPA directly), OPA asks the guard
# itself with http.send, as below; the equivalence test (test/policies/wasm-equivalence.test.ts)
# holds the gateway's call to the same answers.
guard_from_input if has_field(input, "guard")

# The gateway's entrypoint: the decision, or, when the guard must be asked first, the call.
plan := {"guard": guard_call} if {
	guard_needed
	not guard_from_input
} else := {"decision": decision}

guard_call := {
	"url": guard.url,
	"body": guard_request.body,
	"timeoutMs": guard.timeoutMs,
	"cacheSeconds": guard_request.force_cache_duration_seconds,
	"family": guard_family,
} if guard_needed

guard_response := http.send(guard_request) if {
	guard_needed
	not guard_from_input
}

guard_answer := guard_response.body.choices[0].message.content if guard_response.status_code == 200

# The verdict, "safe" or "unsafe", read in the configured family's format. An answer in any
# other shape has no verdict, and the guard counts as unavailable.
guard_verdict := guard_verdict_of(guard_family, guard_answer) if not guard_from_input

# The gateway's verdict ("down": unreachable, too slow, an error status or no verdict).
guard_verdict := input.guard.verdict if {
	guard_needed
	guard_from_input
	input.guard.verdict in {"safe", "unsafe"}
}

# Llama Guard: "safe", or "unsafe" and a line of categories ("S1,S10").
guard_verdict_of("llama-guard", answer) := {"safe": "safe", "unsafe": "unsafe"}[lower(trim_space(llama_guard_lines(answer)[0]))]

# Granite Guardian: "Yes" (risky) or "No", possibly followed by a confidence tag (3.x), or, from
# 3.3, "<score> yes </score>" after an optional "<think>...</think>" trace.
guard_verdict_of("granite-guardian", answer) := yes_no_verdict[lower(granite_score(answer))]

# ShieldGemma: the answer starts with "Yes" (violates the guideline) or "No".
guard_verdict_of("shieldgemma", answer) := yes_no_verdict[lower(first_word(answer))]

yes_no_verdict := {"yes": "unsafe", "no": "safe"}

llama_guard_lines(answer) := split(trim_space(answer), "\n")

first_word(s) := regex.find_all_string_submatch_n(`^\s*([A-Za-z]+)`, s, 1)[0][1]

granite_score(answer) := w if {
	parts := split(answer, "</think>")
	tail := parts[count(parts) - 1]
	w := granite_score_in(tail)
}

granite_score_in(s) := regex.find_all_string_submatch_n(`<score>\s*([A-Za-z]+)\s*</score>`, s, 1)[0][1] if {
	contains(s, "<score>")
} else := first_word(s)

guard_flagged if guard_verdict == "unsafe"

guard_safe if guard_verdict == "safe"

# Categories the guard named (for audit): Llama Guard's ["S1", "S10"]; the yes/no families
# name none.
guard_categories := input.guard.categories if {
	guard_flagged
	guard_from_input
} else := [trim_space(c) | some c in split(llama_guard_lines(guard_answer)[1], ",")] if {
	guard_flagged
	guard_family == "llama-guard"
} else := [] if guard_flagged

# Unreachable, an error status or an answer that is not a verdict in the family's format.
guard_unavailable if {
	guard_needed
	not guard_flagged
	not guard_safe
}

# Fails closed unless the data says exactly `false` (prod always sets true; a missing or
# malformed flag is closed).
guard_fail_closed if guard.failClosed != false

guard_fail_closed if not has_field(guard, "failClosed")

guard_reasons contains "guard_flagged" if guard_flagged

guard_reasons contains "guard_unavailable" if {
	guard_unavailable
	guard_fail_closed
}

guard_reasons contains "guard_unavailable" if {
	guard_applies
	not guard_data_valid
}
