package schema

// removedAPI says when Kubernetes stopped serving an apiVersion of a kind and what replaces it. Source: the
// Kubernetes deprecated API migration guide (kubernetes.io/docs/reference/using-api/deprecation-guide/).
type removedAPI struct {
	removedIn   string // minor version
	replacement string // apiVersion to use; empty when the kind is gone
	hint        string // what to do when there is no replacement
}

var removedAPIs = map[gvk]removedAPI{}

// removedGroups are API groups Kubernetes no longer serves at all; kinds in them are never custom resources.
var removedGroups = map[string]bool{"extensions": true}

func init() {
	add := func(group string, versions []string, kinds []string, removedIn, replacement string) {
		for _, v := range versions {
			for _, k := range kinds {
				removedAPIs[gvk{group, v, k}] = removedAPI{removedIn: removedIn, replacement: replacement}
			}
		}
	}
	beta1 := []string{"v1beta1"}
	add("extensions", beta1, []string{"Deployment", "DaemonSet", "ReplicaSet"}, "1.16", "apps/v1")
	add("extensions", beta1, []string{"NetworkPolicy"}, "1.16", "networking.k8s.io/v1")
	add("extensions", beta1, []string{"Ingress"}, "1.22", "networking.k8s.io/v1")
	add("apps", []string{"v1beta1", "v1beta2"}, []string{"Deployment", "DaemonSet", "ReplicaSet", "StatefulSet",
		"ControllerRevision"}, "1.16", "apps/v1")
	add("networking.k8s.io", beta1, []string{"Ingress", "IngressClass"}, "1.22", "networking.k8s.io/v1")
	add("rbac.authorization.k8s.io", []string{"v1alpha1", "v1beta1"}, []string{"Role", "ClusterRole", "RoleBinding",
		"ClusterRoleBinding"}, "1.22", "rbac.authorization.k8s.io/v1")
	add("apiextensions.k8s.io", beta1, []string{"CustomResourceDefinition"}, "1.22", "apiextensions.k8s.io/v1")
	add("admissionregistration.k8s.io", beta1, []string{"MutatingWebhookConfiguration",
		"ValidatingWebhookConfiguration"}, "1.22", "admissionregistration.k8s.io/v1")
	add("apiregistration.k8s.io", beta1, []string{"APIService"}, "1.22", "apiregistration.k8s.io/v1")
	add("certificates.k8s.io", beta1, []string{"CertificateSigningRequest"}, "1.22", "certificates.k8s.io/v1")
	add("coordination.k8s.io", beta1, []string{"Lease"}, "1.22", "coordination.k8s.io/v1")
	add("scheduling.k8s.io", []string{"v1alpha1", "v1beta1"}, []string{"PriorityClass"}, "1.22", "scheduling.k8s.io/v1")
	add("storage.k8s.io", beta1, []string{"CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"}, "1.22",
		"storage.k8s.io/v1")
	add("storage.k8s.io", beta1, []string{"CSIStorageCapacity"}, "1.27", "storage.k8s.io/v1")
	add("batch", beta1, []string{"CronJob"}, "1.25", "batch/v1")
	add("discovery.k8s.io", beta1, []string{"EndpointSlice"}, "1.25", "discovery.k8s.io/v1")
	add("events.k8s.io", beta1, []string{"Event"}, "1.25", "events.k8s.io/v1")
	add("node.k8s.io", beta1, []string{"RuntimeClass"}, "1.25", "node.k8s.io/v1")
	add("policy", beta1, []string{"PodDisruptionBudget"}, "1.25", "policy/v1")
	add("autoscaling", []string{"v2beta1"}, []string{"HorizontalPodAutoscaler"}, "1.25", "autoscaling/v2")
	add("autoscaling", []string{"v2beta2"}, []string{"HorizontalPodAutoscaler"}, "1.26", "autoscaling/v2")
	fc := []string{"FlowSchema", "PriorityLevelConfiguration"}
	add("flowcontrol.apiserver.k8s.io", beta1, fc, "1.26", "flowcontrol.apiserver.k8s.io/v1")
	add("flowcontrol.apiserver.k8s.io", []string{"v1beta2"}, fc, "1.29", "flowcontrol.apiserver.k8s.io/v1")
	add("flowcontrol.apiserver.k8s.io", []string{"v1beta3"}, fc, "1.32", "flowcontrol.apiserver.k8s.io/v1")
	psp := removedAPI{removedIn: "1.25", hint: "enforce Pod Security Standards with Pod Security Admission " +
		"(pod-security.kubernetes.io/* labels on the Namespace) and delete this object"}
	removedAPIs[gvk{"policy", "v1beta1", "PodSecurityPolicy"}] = psp
	removedAPIs[gvk{"extensions", "v1beta1", "PodSecurityPolicy"}] = psp
}
