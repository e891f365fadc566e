# Team workloads carry the `team` and `cost-center` labels, and `team` names the namespace's team.
# Gatekeeper template K8sRequiredTeamLabels; parameters:
#   {labels: [string], teamNamespacePrefix: string}
package k8srequiredteamlabels

namespace := input.review.namespace if input.review.namespace != ""

namespace := input.review.object.metadata.namespace if {
	not input.review.namespace
}

namespace := input.review.object.metadata.namespace if input.review.namespace == ""

provided := {k | some k, v in input.review.object.metadata.labels; v != ""}

violation contains {"msg": msg} if {
	missing := {l | some l in input.parameters.labels} - provided
	count(missing) > 0
	msg := sprintf("%s %q lacks the required labels %v", [input.review.object.kind, input.review.object.metadata.name, sort(missing)])
}

violation contains {"msg": msg} if {
	prefix := input.parameters.teamNamespacePrefix
	startswith(namespace, prefix)
	team := substring(namespace, count(prefix), -1)
	label := input.review.object.metadata.labels.team
	label != team
	msg := sprintf("%s %q is labelled team=%q in the namespace of team %q", [input.review.object.kind, input.review.object.metadata.name, label, team])
}
