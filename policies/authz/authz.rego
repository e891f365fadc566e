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
}

# A LoRA adapter: its own rank and its (known) base model's.
fast_model_permitted if {
	m := fast_model
	base := data.sovereign.models[m.baseModel]
	fast_subject_rank >= classification_rank[m.dataClassification]
	fast_subject_rank >= classification_rank[base.dataClassification]
}

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
	input.subject.sub != ""
	is_array(input.subject.groups)
	is_string(input.subject.team)
	is_string(input.request.model)
	is_string(input.request.endpoint)
	is_number(input.request.estimatedTokens)
	input.request.estimatedTokens >= 0
	is_number(input.context.usage.tokensToday)
	is_number(input.context.usage.requestsThisMinute)
}

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
model_rank := max({classification_rank[model.dataClassification], classification_rank[base_model.dataClassification]}) if {
	model.baseModel
} else := classification_rank[model.dataClassification]

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
# Soft defense: the guard model (OpenAI-compatible chat completions, e.g. Llama Guard)
# ---------------------------------------------------------------------------------------

guard := data.sovereign.guard

# Everything the caller wrote, as one user turn: a guard template classifies the last user
# turn, and roles (system prompts included) are the caller's, so all of them are checked.
guard_text := concat("\n\n", array.concat(prompt_parts, message_parts))

prompt_parts := [input.request.prompt] if {
	is_string(input.request.prompt)
	input.request.prompt != ""
} else := []

message_parts := [sprintf("%s: %s", [m.role, m.content]) | some m in input.request.messages]

# Only asked when the rigid rules already allow: no guard call for requests denied anyway.
guard_needed if {
	guard.enabled == true
	addresses_model
	count(rigid_reasons) == 0
	guard_text != ""
}

guard_request := {
	"method": "POST",
	"url": guard.url,
	"headers": {"Content-Type": "application/json"},
	"body": {
		"model": guard.model,
		"messages": [{"role": "user", "content": guard_text}],
		"temperature": 0,
		"max_tokens": 16,
	},
	"timeout": sprintf("%dms", [guard.timeoutMs]),
	"cache": true,
	"force_cache": true,
	"force_cache_duration_seconds": object.get(guard, "cacheSeconds", default_guard_cache_seconds),
	"raise_error": false,
}

guard_response := http.send(guard_request) if guard_needed

# The verdict's first line: "safe", or "unsafe" followed by a line of categories (S1,S10).
guard_lines := split(trim_space(guard_response.body.choices[0].message.content), "\n") if {
	guard_response.status_code == 200
}

guard_verdict := lower(trim_space(guard_lines[0]))

guard_flagged if guard_verdict == "unsafe"

guard_safe if guard_verdict == "safe"

# Categories the guard named (for audit): ["S1", "S10"].
guard_categories := [trim_space(c) | some c in split(guard_lines[1], ",")] if guard_flagged

# Unreachable, an error status or an answer that is neither "safe" nor "unsafe".
guard_unavailable if {
	guard_needed
	not guard_flagged
	not guard_safe
}

# Fails closed unless the data says otherwise (prod always sets failClosed).
guard_fail_closed if object.get(guard, "failClosed", true) != false

guard_reasons contains "guard_flagged" if guard_flagged

guard_reasons contains "guard_unavailable" if {
	guard_unavailable
	guard_fail_closed
}
