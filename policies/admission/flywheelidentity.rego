# The flywheel's identity stays the kit's: in a team namespace, a workload that runs as one of the
# namespace's protected ServiceAccounts, references one of its protected Secrets (anywhere in its
# pod spec: env secretKeyRef and envFrom secretRef of every container, init and ephemeral ones
# included; secret, projected, CSI nodePublishSecretRef and every other volume's secret reference;
# imagePullSecrets) or carries the flywheel-stage label is admitted only from an identity outside
# every team: the platform operator (`pulumi up`,
# `flywheel -- run`) and the cluster's controllers acting on the objects it declared (the
# cronjob-controller's Jobs, the job-controller's Pods). A team identity is a member of a team's
# group or a ServiceAccount of a team namespace; its request is denied.
# Gatekeeper template K8sFlywheelIdentity; parameters:
#   {protected: [{namespace: string, serviceAccounts: [string], secrets: [string]}],
#    stageLabel: string, teamNamespaces: [string], teamGroups: [string]}
package k8sflywheelidentity

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
}

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

# Every label set of the object: its own, its pods' and (a CronJob) its Jobs'.
label_sets contains input.review.object.metadata.labels

label_sets contains input.review.object.spec.template.metadata.labels

label_sets contains input.review.object.spec.jobTemplate.metadata.labels

label_sets contains input.review.object.spec.jobTemplate.spec.template.metadata.labels

namespace := input.review.namespace if input.review.namespace != ""

namespace := input.review.object.metadata.namespace if {
	not input.review.namespace
}

namespace := input.review.object.metadata.namespace if input.review.namespace == ""

protected_service_accounts contains sa if {
	some p in input.parameters.protected
	p.namespace == namespace
	some sa in p.serviceAccounts
}

protected_secrets contains s if {
	some p in input.parameters.protected
	p.namespace == namespace
	some s in p.secrets
}

containers(spec) := [c | some field in ["initContainers", "containers", "ephemeralContainers"]; some c in spec[field]]

secret_refs contains name if {
	some c in containers(pod_spec(input.review.object))
	some e in c.env
	name := e.valueFrom.secretKeyRef.name
}

secret_refs contains name if {
	some c in containers(pod_spec(input.review.object))
	some e in c.envFrom
	name := e.secretRef.name
}

# Every volume's Secret, whatever its type: `secret.secretName`, a projected source's
# `secret.name`, a CSI volume's `nodePublishSecretRef` and the `secretRef` of the other plugins
# (cephfs, rbd, iscsi, flexVolume, scaleIO, storageos), azureFile's `secretName`.
secret_ref_keys := {
	"secret", "secretRef", "nodePublishSecretRef", "nodeStageSecretRef", "nodeExpandSecretRef",
	"controllerPublishSecretRef", "controllerExpandSecretRef",
}

secret_refs contains name if {
	some v in pod_spec(input.review.object).volumes
	walk(v, [path, node])
	count(path) > 0
	path[count(path) - 1] in secret_ref_keys
	name := node.name
	is_string(name)
}

secret_refs contains name if {
	some v in pod_spec(input.review.object).volumes
	walk(v, [path, name])
	count(path) > 0
	path[count(path) - 1] == "secretName"
	is_string(name)
}

# The kubelet pulls the pod's images with these Secrets.
secret_refs contains name if {
	some s in pod_spec(input.review.object).imagePullSecrets
	name := s.name
}

# The pod's ServiceAccounts: `serviceAccountName` and its deprecated alias `serviceAccount` (the
# API server uses the alias when the name is empty), `default` when both are empty.
service_accounts contains sa if {
	some field in ["serviceAccountName", "serviceAccount"]
	sa := pod_spec(input.review.object)[field]
	sa != ""
}

service_accounts contains "default" if {
	spec := pod_spec(input.review.object)
	object.get(spec, "serviceAccountName", "") == ""
	object.get(spec, "serviceAccount", "") == ""
}

team_identity if {
	some g in input.review.userInfo.groups
	g in {x | some x in input.parameters.teamGroups}
}

team_identity if {
	some ns in input.parameters.teamNamespaces
	startswith(input.review.userInfo.username, sprintf("system:serviceaccount:%s:", [ns]))
}

team_identity if {
	some ns in input.parameters.teamNamespaces
	sprintf("system:serviceaccounts:%s", [ns]) in {g | some g in input.review.userInfo.groups}
}

who := input.review.userInfo.username

violation contains {"msg": msg} if {
	team_identity
	some sa in service_accounts
	sa in protected_service_accounts
	msg := sprintf("%s %q runs as ServiceAccount %q, the flywheel's identity: only the platform's own CronJobs may use it (requested by %q)", [input.review.object.kind, input.review.object.metadata.name, sa, who])
}

violation contains {"msg": msg} if {
	team_identity
	some s in secret_refs
	s in protected_secrets
	msg := sprintf("%s %q references Secret %q, a credential of the flywheel's: only the platform's own CronJobs may read it (requested by %q)", [input.review.object.kind, input.review.object.metadata.name, s, who])
}

violation contains {"msg": msg} if {
	team_identity
	some labels in label_sets
	labels[input.parameters.stageLabel]
	msg := sprintf("%s %q carries the flywheel-stage label %q: only the platform's own CronJobs may (requested by %q)", [input.review.object.kind, input.review.object.metadata.name, input.parameters.stageLabel, who])
}
