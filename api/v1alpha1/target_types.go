package v1alpha1

import "k8s.io/apimachinery/pkg/runtime/schema"

// TargetRef names a kind of resource by API version and kind.
type TargetRef struct {
	// apiVersion is the group and version of the target, for example "apps.example.com/v1alpha1",
	// or "v1" for the core group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$`
	APIVersion string `json:"apiVersion"`

	// kind is the kind of the target, for example "Template" or "ConfigMap".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`
}

// GroupVersionKind returns the target as a GroupVersionKind. An unparsable apiVersion (which
// admission rejects) yields an empty group and version.
func (t TargetRef) GroupVersionKind() schema.GroupVersionKind {
	gv, err := schema.ParseGroupVersion(t.APIVersion)
	if err != nil {
		return schema.GroupVersionKind{Kind: t.Kind}
	}
	return gv.WithKind(t.Kind)
}

// String returns the target as "Kind.version.group" (or "Kind.v1" for the core group).
func (t TargetRef) String() string {
	gvk := t.GroupVersionKind()
	if gvk.Group == "" {
		return gvk.Kind + "." + gvk.Version
	}
	return gvk.Kind + "." + gvk.Version + "." + gvk.Group
}
