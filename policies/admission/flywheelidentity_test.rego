package k8sflywheelidentity_test

import data.k8sflywheelidentity

params := {
	"protected": [{
		"namespace": "team-research",
		"serviceAccounts": ["flywheel-builder"],
		"secrets": ["model-x-api-key", "fw-research-postgres"],
	}],
	"stageLabel": "sovereign.ai/flywheel-stage",
	"teamNamespaces": ["team-research", "team-support"],
	"teamGroups": ["sovereign-research", "sovereign-support"],
}

member := {"username": "alice@example.com", "groups": ["sovereign-research", "system:authenticated"]}

operator := {"username": "arn:aws:sts::1:assumed-role/platform/ops", "groups": ["system:authenticated"]}

cronjob_controller := {"username": "system:serviceaccount:kube-system:cronjob-controller", "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]}

job_controller := {"username": "system:serviceaccount:kube-system:job-controller", "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]}

team_sa := {"username": "system:serviceaccount:team-research:trainer", "groups": ["system:serviceaccounts", "system:serviceaccounts:team-research", "system:authenticated"]}

container := {"name": "c", "image": "x:1"}

job_of(spec, labels) := {
	"kind": "Job",
	"metadata": {"name": "j", "namespace": "team-research", "labels": {"team": "research"}},
	"spec": {"template": {"metadata": {"labels": labels}, "spec": spec}},
}

review(obj, user) := {"review": {"namespace": obj.metadata.namespace, "object": obj, "userInfo": user}, "parameters": params}

flywheel_spec := {"serviceAccountName": "flywheel-builder", "containers": [container]}

env_spec := {"serviceAccountName": "trainer", "containers": [object.union(container, {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "model-x-api-key", "key": "api-key"}}}]})]}

envfrom_spec := {"serviceAccountName": "trainer", "containers": [object.union(container, {"envFrom": [{"secretRef": {"name": "model-x-api-key"}}]})]}

volume_spec := {"serviceAccountName": "trainer", "containers": [container], "volumes": [{"name": "k", "secret": {"secretName": "model-x-api-key"}}]}

projected_spec := {"serviceAccountName": "trainer", "containers": [container], "volumes": [{"name": "k", "projected": {"sources": [{"secret": {"name": "fw-research-postgres"}}]}}]}

init_spec := {"serviceAccountName": "trainer", "containers": [container], "initContainers": [object.union(container, {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "model-x-api-key", "key": "api-key"}}}]})]}

trainer_spec := {"serviceAccountName": "trainer", "containers": [container], "volumes": [{"name": "s3", "secret": {"secretName": "trainer-s3"}}]}

stage := {"sovereign.ai/flywheel-stage": "controller"}

denied(obj, user, fragment) if {
	vs := k8sflywheelidentity.violation with input as review(obj, user)
	count(vs) > 0
	some v in vs
	contains(v.msg, fragment)
}

test_member_job_with_the_flywheel_service_account_is_denied if {
	denied(job_of(flywheel_spec, {}), member, "ServiceAccount \"flywheel-builder\"")
}

test_member_job_with_the_deprecated_service_account_field_is_denied if {
	denied(job_of({"serviceAccount": "flywheel-builder", "containers": [container]}, {}), member, "ServiceAccount \"flywheel-builder\"")
}

test_member_job_reading_a_model_key_by_env_is_denied if {
	denied(job_of(env_spec, {}), member, "Secret \"model-x-api-key\"")
}

test_member_job_reading_a_model_key_by_env_from_is_denied if {
	denied(job_of(envfrom_spec, {}), member, "Secret \"model-x-api-key\"")
}

test_member_job_mounting_a_model_key_is_denied if {
	denied(job_of(volume_spec, {}), member, "Secret \"model-x-api-key\"")
}

test_member_job_projecting_the_postgres_secret_is_denied if {
	denied(job_of(projected_spec, {}), member, "Secret \"fw-research-postgres\"")
}

test_member_job_reading_a_model_key_in_an_init_container_is_denied if {
	denied(job_of(init_spec, {}), member, "Secret \"model-x-api-key\"")
}

test_member_job_with_the_flywheel_stage_label_is_denied if {
	denied(job_of({"serviceAccountName": "trainer", "containers": [container]}, stage), member, "flywheel-stage label")
}

test_member_cronjob_with_the_stage_label_on_its_jobs_is_denied if {
	obj := {
		"kind": "CronJob",
		"metadata": {"name": "c", "namespace": "team-research"},
		"spec": {"jobTemplate": {"metadata": {"labels": stage}, "spec": {"template": {"spec": {"containers": [container]}}}}},
	}
	denied(obj, member, "flywheel-stage label")
}

test_member_deployment_running_as_the_flywheel_is_denied if {
	obj := {"kind": "Deployment", "metadata": {"name": "d", "namespace": "team-research"}, "spec": {"template": {"spec": flywheel_spec}}}
	denied(obj, member, "ServiceAccount")
}

test_member_pod_running_as_the_flywheel_is_denied if {
	obj := {"kind": "Pod", "metadata": {"name": "p", "namespace": "team-research"}, "spec": flywheel_spec}
	denied(obj, member, "ServiceAccount")
}

test_team_service_account_job_running_as_the_flywheel_is_denied if {
	denied(job_of(flywheel_spec, {}), team_sa, "ServiceAccount")
}

test_cronjob_controller_job_of_the_kit_is_allowed if {
	count(k8sflywheelidentity.violation) == 0 with input as review(job_of(object.union(env_spec, flywheel_spec), stage), cronjob_controller)
}

test_job_controller_pod_of_the_kit_is_allowed if {
	obj := {"kind": "Pod", "metadata": {"name": "p", "namespace": "team-research", "labels": stage}, "spec": object.union(env_spec, flywheel_spec)}
	count(k8sflywheelidentity.violation) == 0 with input as review(obj, job_controller)
}

test_operator_cronjob_of_the_kit_is_allowed if {
	obj := {
		"kind": "CronJob",
		"metadata": {"name": "c", "namespace": "team-research"},
		"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": stage}, "spec": object.union(env_spec, flywheel_spec)}}}},
	}
	count(k8sflywheelidentity.violation) == 0 with input as review(obj, operator)
}

test_member_ordinary_training_job_is_allowed if {
	count(k8sflywheelidentity.violation) == 0 with input as review(job_of(trainer_spec, {"kueue.x-k8s.io/queue-name": "training"}), member)
}

test_protected_names_of_another_namespace_are_allowed if {
	obj := json.patch(job_of(env_spec, {}), [{"op": "replace", "path": "/metadata/namespace", "value": "team-support"}])
	count(k8sflywheelidentity.violation) == 0 with input as review(obj, member)
}

# Every other way a pod can name a Secret.
with_volume(v) := {"serviceAccountName": "trainer", "containers": [container], "volumes": [v]}

test_member_job_pulling_images_with_the_postgres_secret_is_denied if {
	spec := {"serviceAccountName": "trainer", "containers": [container], "imagePullSecrets": [{"name": "fw-research-postgres"}]}
	denied(job_of(spec, {}), member, "Secret \"fw-research-postgres\"")
}

test_member_job_with_a_csi_volume_given_a_model_key_is_denied if {
	v := {"name": "k", "csi": {"driver": "secrets-store.csi.k8s.io", "nodePublishSecretRef": {"name": "model-x-api-key"}}}
	denied(job_of(with_volume(v), {}), member, "Secret \"model-x-api-key\"")
}

test_member_job_with_each_plugin_volume_secret_ref_is_denied if {
	every v in [
		{"name": "k", "cephfs": {"monitors": ["m"], "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "rbd": {"monitors": ["m"], "image": "i", "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "flexVolume": {"driver": "d", "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "iscsi": {"targetPortal": "p", "iqn": "q", "lun": 0, "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "storageos": {"volumeName": "v", "secretRef": {"name": "model-x-api-key"}}},
		{"name": "k", "azureFile": {"secretName": "model-x-api-key", "shareName": "s"}},
	] {
		denied(job_of(with_volume(v), {}), member, "Secret \"model-x-api-key\"")
	}
}

test_member_pod_with_an_ephemeral_container_reading_a_model_key_is_denied if {
	debug := object.union(container, {"envFrom": [{"secretRef": {"name": "model-x-api-key"}}]})
	obj := {"kind": "Pod", "metadata": {"name": "p", "namespace": "team-research"}, "spec": {"serviceAccountName": "trainer", "containers": [container], "ephemeralContainers": [debug]}}
	denied(obj, member, "Secret \"model-x-api-key\"")
}

# `kubectl debug` on the flywheel's own pod: an UPDATE of pods/ephemeralcontainers (Gatekeeper's
# webhook receives that subresource) whose object is the pod, which runs as the flywheel.
test_member_debug_container_in_the_flywheel_pod_is_denied if {
	pod := {"kind": "Pod", "metadata": {"name": "fw", "namespace": "team-research", "labels": stage}, "spec": object.union(flywheel_spec, {"ephemeralContainers": [object.union(container, {"name": "debugger"})]})}
	vs := k8sflywheelidentity.violation with input as {"review": {"namespace": "team-research", "operation": "UPDATE", "subResource": "ephemeralcontainers", "kind": {"kind": "Pod"}, "object": pod, "userInfo": member}, "parameters": params}
	some v in vs
	contains(v.msg, "ServiceAccount \"flywheel-builder\"")
}

test_member_workload_of_every_kind_reading_a_model_key_is_denied if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"] {
		denied({"kind": kind, "metadata": {"name": "w", "namespace": "team-research"}, "spec": {"template": {"spec": volume_spec}}}, member, "Secret \"model-x-api-key\"")
	}
	denied({"kind": "CronJob", "metadata": {"name": "c", "namespace": "team-research"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": envfrom_spec}}}}}, member, "Secret \"model-x-api-key\"")
	denied({"kind": "Pod", "metadata": {"name": "p", "namespace": "team-research"}, "spec": init_spec}, member, "Secret \"model-x-api-key\"")
}

test_member_job_with_its_own_pull_secret_and_csi_secret_is_allowed if {
	spec := {
		"serviceAccountName": "trainer", "containers": [container],
		"imagePullSecrets": [{"name": "team-registry"}],
		"volumes": [
			{"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "team-csi"}}},
			{"name": "s", "secret": {"secretName": "trainer-s3"}},
		],
	}
	count(k8sflywheelidentity.violation) == 0 with input as review(job_of(spec, {}), member)
}
