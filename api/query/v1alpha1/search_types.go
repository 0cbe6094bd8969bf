package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// Output says what a Search returns besides the counts.
// +kubebuilder:validation:Enum=References;Objects
type Output string

// Outputs.
const (
	// OutputReferences returns references to the matching objects in status.results.
	OutputReferences Output = "References"
	// OutputObjects also returns the matching objects themselves in status.objects.
	OutputObjects Output = "Objects"
)

// SearchSpec is the question a Search asks: the spec of a SearchQuery, and what to return.
type SearchSpec struct {
	searchv1alpha1.QuerySpec `json:",inline"`

	// output is References (the default) or Objects, which also returns the page's objects in
	// status.objects.
	// +optional
	Output Output `json:"output,omitempty"`
}

// ClusterSearchSpec is the question a ClusterSearch asks: the spec of a ClusterSearchQuery, and
// what to return.
type ClusterSearchSpec struct {
	searchv1alpha1.ClusterSearchQuerySpec `json:",inline"`

	// output is References (the default) or Objects, which also returns the page's objects in
	// status.objects.
	// +optional
	Output Output `json:"output,omitempty"`
}

// SearchStatus is the answer: the status a SearchQuery with the same spec would have, and the
// objects when asked for.
type SearchStatus struct {
	searchv1alpha1.QueryStatus `json:",inline"`

	// objects are the objects of the page, in order, when spec.output is Objects. They are stored
	// documents: without managedFields and the last-applied-configuration annotation.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Objects []runtime.RawExtension `json:"objects,omitempty"`
}

// Search runs a query once in its namespace. Create it to get the answer in the response;
// nothing is stored.
//
// +kubebuilder:object:root=true
type Search struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the query.
	// +required
	Spec SearchSpec `json:"spec"`

	// status is the answer, filled in by the server.
	// +optional
	Status SearchStatus `json:"status,omitempty"`
}

// ClusterSearch runs a query once across namespaces, or over a cluster-scoped kind. Create it to
// get the answer in the response; nothing is stored.
//
// +kubebuilder:object:root=true
type ClusterSearch struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the query.
	// +required
	Spec ClusterSearchSpec `json:"spec"`

	// status is the answer, filled in by the server.
	// +optional
	Status SearchStatus `json:"status,omitempty"`
}
