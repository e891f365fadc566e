package k8sallowedimages_test

import data.k8sallowedimages

params := {"registries": ["123456789012.dkr.ecr.eu-central-1.amazonaws.com", "ghcr.io", "docker.io"]}

pod(images) := {
	"review": {"object": {
		"kind": "Pod",
		"metadata": {"name": "p"},
		"spec": {"containers": [{"name": sprintf("c%d", [i]), "image": img} | some i, img in images]},
	}},
	"parameters": params,
}

test_pinned_image_from_allowed_registry_is_allowed if {
	count(k8sallowedimages.violation) == 0 with input as pod(["ghcr.io/sovereign-ai/gateway:0.1.0"])
}

test_ecr_image_with_digest_is_allowed if {
	img := concat("", ["123456789012.dkr.ecr.eu-central-1.amazonaws.com/vllm@sha256:", concat("", ["a" | some _ in numbers.range(1, 64)])])
	count(k8sallowedimages.violation) == 0 with input as pod([img])
}

test_docker_hub_short_name_counts_as_docker_io if {
	count(k8sallowedimages.violation) == 0 with input as pod(["vllm/vllm-openai:v0.11.0"])
}

test_registry_with_port_is_parsed if {
	vs := k8sallowedimages.violation with input as pod(["registry.local:5000/team/img:1.0"])
	some v in vs
	contains(v.msg, "registry.local:5000")
}

test_image_from_other_registry_is_denied if {
	vs := k8sallowedimages.violation with input as pod(["quay.io/prometheus/prometheus:v3.0.0"])
	count(vs) == 1
	some v in vs
	contains(v.msg, "quay.io")
}

test_latest_tag_is_denied if {
	vs := k8sallowedimages.violation with input as pod(["ghcr.io/org/app:latest"])
	count(vs) == 1
	some v in vs
	contains(v.msg, "`latest`")
}

test_missing_tag_is_denied if {
	vs := k8sallowedimages.violation with input as pod(["ghcr.io/org/app"])
	count(vs) == 1
	some v in vs
	contains(v.msg, "without a tag")
}

test_init_containers_of_a_deployment_are_checked if {
	obj := {
		"kind": "Deployment",
		"metadata": {"name": "d"},
		"spec": {"template": {"spec": {
			"initContainers": [{"name": "init", "image": "evil.example/x:1"}],
			"containers": [{"name": "app", "image": "ghcr.io/org/app:1.0"}],
		}}},
	}
	vs := k8sallowedimages.violation with input as {"review": {"object": obj}, "parameters": params}
	count(vs) == 1
}

test_cronjob_containers_are_checked if {
	obj := {
		"kind": "CronJob",
		"metadata": {"name": "cj"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/org/app:latest"}]}}}}},
	}
	count(k8sallowedimages.violation) == 1 with input as {"review": {"object": obj}, "parameters": params}
}
