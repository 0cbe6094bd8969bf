package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterSearchQuerySpec is the question a ClusterSearchQuery asks. It may search every
// namespace and cluster-scoped kinds, so RBAC on ClusterSearchQuery is what grants
// cross-namespace search.
// +kubebuilder:validation:XValidation:rule="!has(self.createdAfter) || !has(self.createdBefore) || timestamp(self.createdAfter) < timestamp(self.createdBefore)",message="createdAfter must be before createdBefore"
// +kubebuilder:validation:XValidation:rule="!has(self.owner) || !has(self.ownerUID)",message="set owner or ownerUID, not both"
type ClusterSearchQuerySpec struct {
	QuerySpec `json:",inline"`

	// namespaces keeps only objects in these namespaces. Empty searches every namespace (and
	// cluster-scoped kinds).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`
}

// ClusterSearchQuery searches one kind of object across namespaces, or a cluster-scoped kind, and
// keeps a page of matching object references in its status, current while the cluster changes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=csq,categories=kubesift
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.kind`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.status.count`,priority=1
// +kubebuilder:printcolumn:name="Remaining",type=integer,JSONPath=`.status.remaining`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterSearchQuery struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the query.
	// +required
	Spec ClusterSearchQuerySpec `json:"spec"`

	// status holds the current page of results.
	// +optional
	Status QueryStatus `json:"status,omitempty"`
}

// ClusterSearchQueryList contains a list of ClusterSearchQuery.
//
// +kubebuilder:object:root=true
type ClusterSearchQueryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterSearchQuery `json:"items"`
}
