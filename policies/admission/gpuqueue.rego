# GPUs only for team namespaces, and there only through a Kueue queue: a GPU Job must carry
# the queue label, and a GPU Pod must carry it and belong to a Job. Platform namespaces that
# serve models are listed in exemptNamespaces.
# Gatekeeper template K8sGpuThroughQueue; parameters:
#   {teamNamespaces: [string], exemptNamespaces: [string], queueLabel: string, gpuResource: string}
package k8sgputhroughqueue

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

namespace := input.review.namespace if input.review.namespace != ""

namespace := input.review.object.metadata.namespace if {
	not input.review.namespace
}

namespace := input.review.object.metadata.namespace if input.review.namespace == ""

gpu_quantity(c) := q if {
	some section in ["requests", "limits"]
	q := to_number(c.resources[section][input.parameters.gpuResource])
	q > 0
}

requests_gpu if {
	spec := pod_spec(input.review.object)
	some field in ["initContainers", "containers"]
	some c in spec[field]
	gpu_quantity(c)
}

team_namespace if namespace in {n | some n in input.parameters.teamNamespaces}

exempt_namespace if namespace in {n | some n in input.parameters.exemptNamespaces}

queued if input.review.object.metadata.labels[input.parameters.queueLabel] != ""

owned_by_job if {
	some ref in input.review.object.metadata.ownerReferences
	ref.kind == "Job"
}

violation contains {"msg": msg} if {
	requests_gpu
	not team_namespace
	not exempt_namespace
	msg := sprintf("%s %q requests GPUs in namespace %q; GPUs are for team namespaces (through a Kueue queue) only", [input.review.object.kind, input.review.object.metadata.name, namespace])
}

violation contains {"msg": msg} if {
	requests_gpu
	team_namespace
	input.review.object.kind in {"Job", "Pod"}
	not queued
	msg := sprintf("%s %q requests GPUs without the %s label; submit it to the team's Kueue queue", [input.review.object.kind, input.review.object.metadata.name, input.parameters.queueLabel])
}

violation contains {"msg": msg} if {
	requests_gpu
	team_namespace
	input.review.object.kind == "Pod"
	queued
	not owned_by_job
	msg := sprintf("Pod %q requests GPUs outside a Job; GPU work in team namespaces runs as queued Jobs", [input.review.object.metadata.name])
}

violation contains {"msg": msg} if {
	requests_gpu
	team_namespace
	not input.review.object.kind in {"Job", "Pod"}
	msg := sprintf("%s %q requests GPUs; GPU work in team namespaces runs as queued Jobs", [input.review.object.kind, input.review.object.metadata.name])
}
