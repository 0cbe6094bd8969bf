// Package v1alpha1 is the read API, query.kubesift.io/v1alpha1: Search and ClusterSearch ask the
// index one question and carry the answer back in the response, like a SubjectAccessReview.
// Nothing is stored. The manager serves them as an aggregated API; they are not custom resources.
//
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=query.kubesift.io
package v1alpha1
