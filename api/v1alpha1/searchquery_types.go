package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SearchQuerySpec is the question a SearchQuery asks. It searches only the SearchQuery's own
// namespace.
// +kubebuilder:validation:XValidation:rule="!has(self.createdAfter) || !has(self.createdBefore) || timestamp(self.createdAfter) < timestamp(self.createdBefore)",message="createdAfter must be before createdBefore"
// +kubebuilder:validation:XValidation:rule="!has(self.owner) || !has(self.ownerUID)",message="set owner or ownerUID, not both"
type SearchQuerySpec struct {
	QuerySpec `json:",inline"`
}

// SearchQuery searches one kind of object in its own namespace and keeps a page of matching
// object references in its status, current while the cluster changes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=sq,categories=kubesift
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.kind`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.status.count`,priority=1
// +kubebuilder:printcolumn:name="Remaining",type=integer,JSONPath=`.status.remaining`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SearchQuery struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the query.
	// +required
	Spec SearchQuerySpec `json:"spec"`

	// status holds the current page of results.
	// +optional
	Status QueryStatus `json:"status,omitempty"`
}

// SearchQueryList contains a list of SearchQuery.
//
// +kubebuilder:object:root=true
type SearchQueryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SearchQuery `json:"items"`
}
