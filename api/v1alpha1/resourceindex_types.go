package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceIndexSpec says which resource to mirror and which fields to make fast.
type ResourceIndexSpec struct {
	// target is the kind to mirror into the index. Only one ResourceIndex may mirror a kind;
	// a second one for the same kind reports Ready=False with reason Duplicate.
	// +required
	Target TargetRef `json:"target"`

	// fields are paths to index so that filters and sorts on them are fast, for example
	// "spec.replicas" or "status.conditions[type=Ready].status". Other paths still work, by scan.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Fields []string `json:"fields,omitempty"`

	// clusters selects member clusters to mirror the kind from as well, besides the local
	// cluster, which is always mirrored. Unset mirrors the local cluster only.
	// +optional
	Clusters *ClusterSelection `json:"clusters,omitempty"`
}

// ClusterSelection selects MemberClusters.
type ClusterSelection struct {
	// selector matches the labels of MemberCluster objects; an empty selector ({}) matches every
	// MemberCluster.
	// +required
	Selector metav1.LabelSelector `json:"selector"`
}

// ClusterIndexStatus is the state of a kind's mirror in one member cluster.
type ClusterIndexStatus struct {
	// name of the MemberCluster.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// ready is true once the member's objects are in the index and its mirror is running.
	// +required
	Ready bool `json:"ready"`

	// reason is a CamelCase word for the state: Synced, Syncing, ClusterNotReady,
	// ResourceNotFound, Forbidden or NotConnected.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message says what the state means and, when not ready, what to do.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// objectCount is the number of the member's objects in the index. While the member is not
	// ready, its objects stay in the index as they were last seen.
	// +optional
	ObjectCount int64 `json:"objectCount,omitempty"`
}

// ResourceIndexStatus is the observed state of a ResourceIndex.
type ResourceIndexStatus struct {
	// observedGeneration is the generation of the spec the index reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// objectCount is the number of objects currently mirrored. It is refreshed every few seconds,
	// not on every change.
	// +optional
	// +kubebuilder:default=0
	ObjectCount int64 `json:"objectCount"`

	// clusters reports the kind's mirror in each member cluster that spec.clusters selects; the
	// local cluster is reported by the conditions. objectCount counts every cluster's objects.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Clusters []ClusterIndexStatus `json:"clusters,omitempty"`

	// resource is the API resource that spec.target maps to, once the API server serves it. The
	// admission policy in config/admission reads it to check, when a query is written, that its
	// author may list the target.
	// +optional
	Resource *IndexedResource `json:"resource,omitempty"`
	// conditions describe the state of the index: Ready=True once the initial list is in the
	// index, and Reconciling or Stalled while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IndexedResource names the API resource of a mirrored kind, as RBAC rules name it.
type IndexedResource struct {
	// group is the API group of the resource; empty for the core group.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group"`
	// resource is the plural resource name, for example "configmaps".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Resource string `json:"resource"`
}

// ResourceIndex mirrors one kind of resource into kubesift's index, through the manager's
// informer cache, so that SearchQuery and ClusterSearchQuery objects can search it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ri,categories=kubesift
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.target.kind`
// +kubebuilder:printcolumn:name="API Version",type=string,JSONPath=`.spec.target.apiVersion`,priority=1
// +kubebuilder:printcolumn:name="Objects",type=integer,JSONPath=`.status.objectCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceIndex struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what to mirror.
	// +required
	Spec ResourceIndexSpec `json:"spec"`

	// status reports the mirror's progress.
	// +optional
	Status ResourceIndexStatus `json:"status,omitempty"`
}

// ResourceIndexList contains a list of ResourceIndex.
//
// +kubebuilder:object:root=true
type ResourceIndexList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceIndex `json:"items"`
}
