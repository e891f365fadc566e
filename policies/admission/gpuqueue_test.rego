package k8sgputhroughqueue_test

import data.k8sgputhroughqueue

params := {
	"teamNamespaces": ["team-research", "team-support"],
	"exemptNamespaces": ["sovereign-serving"],
	"queueLabel": "kueue.x-k8s.io/queue-name",
	"gpuResource": "nvidia.com/gpu",
}

gpu_container := {"name": "trainer", "image": "x:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}

cpu_container := {"name": "app", "image": "x:1", "resources": {"requests": {"cpu": "1"}}}

job(ns, labels, container) := {
	"review": {"namespace": ns, "object": {
		"kind": "Job",
		"metadata": {"name": "j", "namespace": ns, "labels": labels},
		"spec": {"template": {"spec": {"containers": [container]}}},
	}},
	"parameters": params,
}

pod(ns, labels, owners, container) := {
	"review": {"namespace": ns, "object": {
		"kind": "Pod",
		"metadata": {"name": "p", "namespace": ns, "labels": labels, "ownerReferences": owners},
		"spec": {"containers": [container]},
	}},
	"parameters": params,
}

queued := {"kueue.x-k8s.io/queue-name": "training", "team": "research"}

job_owner := [{"kind": "Job", "name": "j", "apiVersion": "batch/v1", "uid": "1"}]

test_queued_gpu_job_in_team_namespace_is_allowed if {
	count(k8sgputhroughqueue.violation) == 0 with input as job("team-research", queued, gpu_container)
}

test_gpu_job_without_queue_label_is_denied if {
	vs := k8sgputhroughqueue.violation with input as job("team-research", {"team": "research"}, gpu_container)
	count(vs) == 1
	some v in vs
	contains(v.msg, "kueue.x-k8s.io/queue-name")
}

test_gpu_job_outside_team_namespaces_is_denied if {
	vs := k8sgputhroughqueue.violation with input as job("default", queued, gpu_container)
	count(vs) == 1
	some v in vs
	contains(v.msg, "team namespaces")
}

test_gpu_pod_in_serving_namespace_is_exempt if {
	count(k8sgputhroughqueue.violation) == 0 with input as pod("sovereign-serving", {}, [], gpu_container)
}

test_cpu_job_without_queue_is_allowed if {
	count(k8sgputhroughqueue.violation) == 0 with input as job("team-research", {}, cpu_container)
}

test_pod_of_a_queued_job_is_allowed if {
	count(k8sgputhroughqueue.violation) == 0 with input as pod("team-research", queued, job_owner, gpu_container)
}

test_bare_gpu_pod_with_queue_label_is_denied if {
	vs := k8sgputhroughqueue.violation with input as pod("team-research", queued, [], gpu_container)
	count(vs) == 1
	some v in vs
	contains(v.msg, "outside a Job")
}

test_gpu_deployment_in_team_namespace_is_denied if {
	obj := {
		"kind": "Deployment",
		"metadata": {"name": "d", "namespace": "team-support", "labels": queued},
		"spec": {"template": {"spec": {"containers": [gpu_container]}}},
	}
	vs := k8sgputhroughqueue.violation with input as {"review": {"namespace": "team-support", "object": obj}, "parameters": params}
	count(vs) == 1
}

test_namespace_falls_back_to_object_metadata if {
	obj := {"kind": "Job", "metadata": {"name": "j", "namespace": "default"}, "spec": {"template": {"spec": {"containers": [gpu_container]}}}}
	count(k8sgputhroughqueue.violation) == 1 with input as {"review": {"object": obj}, "parameters": params}
}

test_zero_gpu_request_is_not_a_gpu_request if {
	c := {"name": "app", "image": "x:1", "resources": {"limits": {"nvidia.com/gpu": "0"}}}
	count(k8sgputhroughqueue.violation) == 0 with input as job("default", {}, c)
}
