package k8srequiredteamlabels_test

import data.k8srequiredteamlabels

params := {"labels": ["team", "cost-center"], "teamNamespacePrefix": "team-"}

review(ns, labels) := {
	"review": {"namespace": ns, "object": {
		"kind": "Job",
		"metadata": {"name": "j", "namespace": ns, "labels": labels},
	}},
	"parameters": params,
}

test_labelled_object_is_allowed if {
	count(k8srequiredteamlabels.violation) == 0 with input as review("team-research", {"team": "research", "cost-center": "cc-2000"})
}

test_missing_cost_center_is_denied if {
	vs := k8srequiredteamlabels.violation with input as review("team-research", {"team": "research"})
	vs == {{"msg": "Job \"j\" lacks the required labels [\"cost-center\"]"}}
}

test_missing_all_labels_lists_both if {
	obj := {"kind": "Pod", "metadata": {"name": "p", "namespace": "team-research"}}
	vs := k8srequiredteamlabels.violation with input as {"review": {"namespace": "team-research", "object": obj}, "parameters": params}
	some v in vs
	contains(v.msg, "[\"cost-center\", \"team\"]")
}

test_empty_label_value_counts_as_missing if {
	count(k8srequiredteamlabels.violation) == 1 with input as review("team-research", {"team": "research", "cost-center": ""})
}

test_team_label_of_another_team_is_denied if {
	vs := k8srequiredteamlabels.violation with input as review("team-research", {"team": "support", "cost-center": "cc-3000"})
	count(vs) == 1
	some v in vs
	contains(v.msg, "team=\"support\"")
}
