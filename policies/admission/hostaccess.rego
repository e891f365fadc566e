# No privileged containers, no hostPath volumes, no host network (nor host PID/IPC).
# Gatekeeper template K8sNoHostAccess; no parameters.
package k8snohostaccess

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

violation contains {"msg": msg} if {
	spec := pod_spec(input.review.object)
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in spec[field]
	c.securityContext.privileged == true
	msg := sprintf("container %q is privileged", [c.name])
}

violation contains {"msg": msg} if {
	spec := pod_spec(input.review.object)
	some v in spec.volumes
	v.hostPath
	msg := sprintf("volume %q mounts a hostPath (%v)", [v.name, v.hostPath.path])
}

violation contains {"msg": msg} if {
	spec := pod_spec(input.review.object)
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	spec[field] == true
	msg := sprintf("the pod sets %s", [field])
}
