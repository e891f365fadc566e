package k8snohostaccess_test

import data.k8snohostaccess

review(spec) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}, "parameters": {}}

test_restricted_pod_is_allowed if {
	spec := {
		"containers": [{"name": "app", "image": "x:1", "securityContext": {"privileged": false, "allowPrivilegeEscalation": false}}],
		"volumes": [{"name": "tmp", "emptyDir": {}}],
	}
	count(k8snohostaccess.violation) == 0 with input as review(spec)
}

test_privileged_container_is_denied if {
	spec := {"containers": [{"name": "app", "image": "x:1", "securityContext": {"privileged": true}}]}
	vs := k8snohostaccess.violation with input as review(spec)
	vs == {{"msg": "container \"app\" is privileged"}}
}

test_privileged_init_container_is_denied if {
	spec := {"initContainers": [{"name": "i", "image": "x:1", "securityContext": {"privileged": true}}], "containers": []}
	count(k8snohostaccess.violation) == 1 with input as review(spec)
}

test_host_path_is_denied if {
	spec := {"containers": [{"name": "app", "image": "x:1"}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}
	vs := k8snohostaccess.violation with input as review(spec)
	count(vs) == 1
	some v in vs
	contains(v.msg, "hostPath")
}

test_host_network_is_denied if {
	spec := {"hostNetwork": true, "containers": [{"name": "app", "image": "x:1"}]}
	vs := k8snohostaccess.violation with input as review(spec)
	vs == {{"msg": "the pod sets hostNetwork"}}
}

test_host_pid_in_a_daemonset_is_denied if {
	obj := {"kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": {"template": {"spec": {"hostPID": true, "containers": []}}}}
	count(k8snohostaccess.violation) == 1 with input as {"review": {"object": obj}, "parameters": {}}
}

test_host_network_false_is_allowed if {
	spec := {"hostNetwork": false, "containers": [{"name": "app", "image": "x:1"}]}
	count(k8snohostaccess.violation) == 0 with input as review(spec)
}
