// Package v1alpha1 contains the kubesift API: ResourceIndex tells kubesift which resource to mirror
// into its index, and SearchQuery and ClusterSearchQuery ask questions of that index and receive
// paginated result references in their status.
//
// +kubebuilder:object:generate=true
// +groupName=search.kubesift.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "search.kubesift.io", Version: "v1alpha1"}

	// SchemeBuilder is used to add Go types to the GroupVersionKind scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
