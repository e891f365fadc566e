# Images come only from the allowed registries, with a pinned tag or digest, never `latest`.
# Gatekeeper template K8sAllowedImages; parameters: {registries: [string]}.
package k8sallowedimages

# Pod specs of a Pod or of any workload that templates pods.
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

containers contains c if {
	spec := pod_spec(input.review.object)
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in spec[field]
}

# The registry host of an image reference (Docker Hub when the first part is not a host).
registry(image) := host if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	is_host(first)
	host := first
} else := "docker.io"

is_host(s) if contains(s, ".")

is_host(s) if contains(s, ":")

is_host("localhost")

# The last path element, where a tag lives.
last_segment(image) := parts[count(parts) - 1] if parts := split(image, "/")

has_digest(image) if contains(image, "@sha256:")

tag(image) := t if {
	not has_digest(image)
	seg := last_segment(image)
	contains(seg, ":")
	t := split(seg, ":")[1]
}

violation contains {"msg": msg} if {
	some c in containers
	r := registry(c.image)
	not r in {x | some x in input.parameters.registries}
	msg := sprintf("container %q uses image %q from registry %q; allowed registries: %v", [c.name, c.image, r, input.parameters.registries])
}

violation contains {"msg": msg} if {
	some c in containers
	tag(c.image) == "latest"
	msg := sprintf("container %q uses image %q with the `latest` tag; pin a version or digest", [c.name, c.image])
}

violation contains {"msg": msg} if {
	some c in containers
	not has_digest(c.image)
	not contains(last_segment(c.image), ":")
	msg := sprintf("container %q uses image %q without a tag (implicitly `latest`); pin a version or digest", [c.name, c.image])
}
