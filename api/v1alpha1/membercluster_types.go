package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultKubeconfigKey is the key of a kubeconfig Secret that holds the kubeconfig when
// spec.kubeconfigSecretRef.key is not set. It follows the Cluster API convention for its
// <cluster>-kubeconfig Secrets.
const DefaultKubeconfigKey = "value"

// VerbSearch is the verb that RBAC grants on a MemberCluster (resource memberclusters, with the
// cluster's name in resourceNames) to let a user's SearchQuery and ClusterSearchQuery objects
// read that member's objects. Without it, queries see only the local cluster's objects.
const VerbSearch = "search"

// SecretKeyRef names one key of a Secret in a given namespace.
type SecretKeyRef struct {
	// namespace is the namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// name is the name of the Secret, for example "prod-eu-kubeconfig".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key is the key of the Secret's data that holds the kubeconfig. It defaults to "value", the
	// key of Cluster API's kubeconfig Secrets.
	// +optional
	// +kubebuilder:default=value
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// MemberClusterSpec says how to reach a member cluster.
type MemberClusterSpec struct {
	// kubeconfigSecretRef names the Secret key that holds the member's kubeconfig. The kubeconfig
	// must carry its credentials and certificates inline: references to files, exec plugins and
	// auth providers are refused, because they would run on, or read from, the manager's host.
	// The manager needs get, list and watch on this Secret only (see docs/multicluster.md).
	// +required
	KubeconfigSecretRef SecretKeyRef `json:"kubeconfigSecretRef"`

	// displayName is a human-readable name of the cluster, for example "Production (eu-west-1)".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`
}

// MemberClusterStatus is the observed state of a MemberCluster.
type MemberClusterStatus struct {
	// observedGeneration is the generation of the spec that the last probe used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// kubernetesVersion is the version the member's API server reported at the last successful
	// probe, for example "v1.36.3".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`

	// lastContactTime is when a probe last succeeded: the member answered /readyz and discovery.
	// +optional
	LastContactTime *metav1.Time `json:"lastContactTime,omitempty"`

	// conditions describe the connection: Ready=True while the member answers, Ready=False with
	// a reason saying what to fix otherwise; Reconciling or Stalled while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// MemberCluster is another Kubernetes cluster that kubesift connects to with a kubeconfig kept in
// a Secret. ResourceIndex objects select member clusters to mirror their objects next to the
// local cluster's. The object's name is the cluster's name in queries and results.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smc,categories=kubesift
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="the name of a MemberCluster is at most 63 characters"
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'local'",message="the name local stands for the cluster kubesift runs in; choose another name"
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`,priority=1
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Contact",type=date,JSONPath=`.status.lastContactTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MemberCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the member.
	// +required
	Spec MemberClusterSpec `json:"spec"`

	// status reports the connection's health.
	// +optional
	Status MemberClusterStatus `json:"status,omitempty"`
}

// MemberClusterList contains a list of MemberCluster.
//
// +kubebuilder:object:root=true
type MemberClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberCluster `json:"items"`
}
