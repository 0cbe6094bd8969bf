// Package v1alpha1 contains the kubesift API: ResourceIndex tells kubesift which resource to mirror
// into its index, MemberCluster connects another cluster whose objects it can mirror too, and SearchQuery and ClusterSearchQuery ask questions of that index and receive
// paginated result references in their status.
//
// +kubebuilder:object:generate=true
// +groupName=search.kubesift.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "search.kubesift.io", Version: "v1alpha1"}

	// SchemeBuilder adds the Go types of this group-version to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the kinds of this group-version with a scheme.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ResourceIndex{}, &ResourceIndexList{},
		&SearchQuery{}, &SearchQueryList{},
		&ClusterSearchQuery{}, &ClusterSearchQueryList{},
		&MemberCluster{}, &MemberClusterList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
