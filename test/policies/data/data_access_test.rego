# Tests of the training data-access decision.
# The fixtures replace the documents under `data.sovereign` (teams only; nothing else is read).
package sovereign_test.data_access

import data.sovereign.data_access

teams := {
	"legal": {
		"oidcGroup": "legal-ai-users",
		"clearance": "confidential",
		"allowedModels": [],
		"budgets": {"tokensPerDay": 1000000, "requestsPerMinute": 600},
		"allowCapture": false,
		"trainableClassifications": ["public", "internal", "confidential"],
	},
	"support": {
		"oidcGroup": "support-agents",
		"clearance": "internal",
		"allowedModels": [],
		"budgets": {"tokensPerDay": 1000000, "requestsPerMinute": 600},
		"allowCapture": false,
		"trainableClassifications": ["public"],
	},
	# A bad data document: lists a classification above the team's clearance.
	"misconfigured": {
		"oidcGroup": "ops",
		"clearance": "public",
		"allowedModels": [],
		"budgets": {"tokensPerDay": 1000000, "requestsPerMinute": 600},
		"allowCapture": false,
		"trainableClassifications": ["public", "restricted"],
	},
}

submission := {
	"subject": {"sub": "f3c1a2d4-7b9e-4d2a-9f61-2c8e5b7a1d09", "groups": ["legal-ai-users"]},
	"team": "legal",
	"action": "train",
	"dataset": {"name": "contracts-2025-q3", "classification": "confidential"},
}

decide(inp) := d if {
	d := data_access.decision with input as inp with data.sovereign.teams as teams
}

test_team_may_train_on_cleared_listed_classification if {
	d := decide(submission)
	d.allow == true
	d.reasons == []
	d.obligations.modelClassification == "confidential"
}

test_admission_query_without_subject if {
	d := decide(json.remove(submission, ["subject"]))
	d.allow == true
}

test_evaluate_action_allowed if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/action", "value": "evaluate"}]))
	d.allow == true
}

test_classification_above_clearance if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/dataset/classification", "value": "restricted"}]))
	d.allow == false
	d.reasons == ["clearance_insufficient"]
	d.obligations.modelClassification == null
}

test_cleared_but_not_listed if {
	inp := {"team": "support", "action": "train", "dataset": {"name": "tickets", "classification": "internal"}}
	d := decide(inp)
	d.allow == false
	d.reasons == ["classification_not_trainable"]
}

test_bad_data_cannot_widen_access if {
	inp := {"team": "misconfigured", "action": "train", "dataset": {"name": "hr", "classification": "restricted"}}
	d := decide(inp)
	d.allow == false
	d.reasons == ["clearance_insufficient"]
}

test_submitter_outside_team if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/subject/groups", "value": ["support-agents"]}]))
	d.allow == false
	d.reasons == ["team_membership_missing"]
}

test_unknown_team if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/team", "value": "marketing"}]))
	d.reasons == ["team_unknown"]
}

test_unknown_action if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/action", "value": "export"}]))
	d.allow == false
	d.reasons == ["action_not_allowed"]
}

test_unknown_classification if {
	d := decide(json.patch(submission, [{"op": "replace", "path": "/dataset/classification", "value": "secret"}]))
	d.allow == false
	d.reasons == ["classification_invalid"]
}

test_empty_input if {
	d := decide({})
	d.allow == false
	d.reasons == ["input_invalid"]
}

test_trainable_classifications_listing if {
	t := data_access.trainable_classifications with data.sovereign.teams as teams
	t == {
		"legal": ["confidential", "internal", "public"],
		"support": ["public"],
		"misconfigured": ["public"],
	}
}

# ---------------------------------------------------------------------------------------
# Hostile input: every malformed shape is input_invalid, never "no subject" or an allow
# ---------------------------------------------------------------------------------------

# [JSON patch to the allowed submission, expected reasons]
hostile_cases := [
	[[{"op": "replace", "path": "/subject", "value": null}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject", "value": "legal-ai-users"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject", "value": []}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject", "value": {}}], ["input_invalid"]],
	[[{"op": "remove", "path": "/subject/sub"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/sub", "value": " "}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/sub", "value": 7}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/groups", "value": "legal-ai-users"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/groups", "value": {"0": "legal-ai-users"}}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/groups", "value": ["legal-ai-users", null]}], ["input_invalid"]],
	[[{"op": "remove", "path": "/subject/groups"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/subject/groups", "value": ["Legal-AI-Users"]}], ["team_membership_missing"]],
	[[{"op": "replace", "path": "/subject/groups", "value": ["legal-ai-users "]}], ["team_membership_missing"]],
	[[{"op": "replace", "path": "/subject/groups", "value": []}], ["team_membership_missing"]],
	[[{"op": "replace", "path": "/team", "value": "Legal"}], ["team_unknown"]],
	[[{"op": "replace", "path": "/team", "value": " legal"}], ["team_unknown"]],
	[[{"op": "replace", "path": "/team", "value": "lеgal"}], ["team_unknown"]], # Cyrillic "е"
	[[{"op": "replace", "path": "/team", "value": null}], ["input_invalid"]],
	[[{"op": "replace", "path": "/team", "value": ["legal"]}], ["input_invalid"]],
	[[{"op": "remove", "path": "/team"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/action", "value": "Train"}], ["action_not_allowed"]],
	[[{"op": "replace", "path": "/action", "value": "train "}], ["action_not_allowed"]],
	[[{"op": "replace", "path": "/action", "value": null}], ["input_invalid"]],
	[[{"op": "replace", "path": "/action", "value": ["train"]}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset", "value": null}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset", "value": "contracts"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset/name", "value": ""}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset/name", "value": " \t"}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset/name", "value": 12}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset/classification", "value": "Confidential"}], ["classification_invalid"]],
	[[{"op": "replace", "path": "/dataset/classification", "value": "public "}], ["classification_invalid"]],
	[[{"op": "replace", "path": "/dataset/classification", "value": "рublic"}], ["classification_invalid"]], # Cyrillic "р"
	[[{"op": "replace", "path": "/dataset/classification", "value": null}], ["input_invalid"]],
	[[{"op": "replace", "path": "/dataset/classification", "value": 0}], ["input_invalid"]],
	[[{"op": "remove", "path": "/dataset/classification"}], ["input_invalid"]],
]

test_hostile_submissions_deny_with_a_named_reason if {
	every c in hostile_cases {
		d := decide(json.patch(submission, c[0]))
		d.allow == false
		d.reasons == c[1]
		d.obligations.modelClassification == null
	}
}

test_non_object_inputs_are_input_invalid if {
	every inp in [null, [], "train", 0, true] {
		d := decide(inp)
		d.reasons == ["input_invalid"]
	}
}
