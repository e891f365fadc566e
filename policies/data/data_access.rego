# METADATA
# title: Training data access
# description: >-
#   Which team may train on which dataset classification. Training submission tooling and
#   admission query `POST /v1/data/sovereign/data_access/decision` with a DataAccessInput
#   (components/lib/contracts.ts). Deny by default; every deny carries reason ids
#   (docs/authorization.md).
package sovereign.data_access

# Classification ranks, least to most sensitive (components/lib/classification.ts).
classification_rank := {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}

# What a team may do with a dataset under this policy.
actions := {"train", "evaluate"}

decision := {
	"allow": allow,
	"reasons": sort([r | some r in reasons]),
	"obligations": {"modelClassification": model_classification},
}

default allow := false

allow if {
	count(denials) == 0
	valid_input
	team
	trainable
}

reasons := denials if {
	count(denials) > 0
} else := {"denied_by_default"} if {
	not allow
} else := set()

# A model trained on the dataset is classified at least as high as the dataset.
default model_classification := null

model_classification := input.dataset.classification if allow

valid_input if {
	is_string(input.team)
	is_string(input.dataset.name)
	trim_space(input.dataset.name) != ""
	is_string(input.dataset.classification)
	is_string(input.action)
	subject_valid
}

# The subject is optional (admission has none); when present it is a person: a non-blank `sub`
# and a list of group names. A malformed subject is input_invalid, never "no subject".
subject_valid if not "subject" in object.keys(input)

subject_valid if {
	is_string(input.subject.sub)
	trim_space(input.subject.sub) != ""
	is_array(input.subject.groups)
	every g in input.subject.groups {
		is_string(g)
	}
}

team := data.sovereign.teams[input.team]

team_rank := classification_rank[team.clearance]

dataset_rank := classification_rank[input.dataset.classification]

# Trainable: the team lists the classification AND is cleared for it (the list is at most the
# clearance by construction; the second check keeps a bad data document from widening access).
trainable if {
	input.dataset.classification in team.trainableClassifications
	dataset_rank <= team_rank
}

# Classifications each team may train on, for tooling that lists them.
trainable_classifications[name] := sort([c |
	some c in t.trainableClassifications
	classification_rank[c] <= classification_rank[t.clearance]
]) if {
	some name, t in data.sovereign.teams
}

denials contains "input_invalid" if not valid_input

denials contains "team_unknown" if {
	is_string(input.team)
	not team
}

# When a person submits, they must belong to the team (its OIDC group is among their groups).
# (A subject without a list of groups is input_invalid.)
denials contains "team_membership_missing" if {
	team
	is_array(input.subject.groups)
	not team.oidcGroup in input.subject.groups
}

denials contains "action_not_allowed" if {
	is_string(input.action)
	not input.action in actions
}

denials contains "classification_invalid" if {
	is_string(input.dataset.classification)
	not dataset_rank
}

denials contains "clearance_insufficient" if {
	dataset_rank > team_rank
}

denials contains "classification_not_trainable" if {
	dataset_rank <= team_rank
	not input.dataset.classification in team.trainableClassifications
}
