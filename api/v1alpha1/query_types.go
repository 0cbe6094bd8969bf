package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FieldOperator compares the value at a field path with the predicate's values.
// +kubebuilder:validation:Enum=Equals;NotEquals;In;NotIn;Exists;DoesNotExist;GreaterThan;GreaterThanOrEqual;LessThan;LessThanOrEqual;Contains;StartsWith
type FieldOperator string

// Field operators. See docs/query-reference.md for their exact semantics.
const (
	FieldOpEquals             FieldOperator = "Equals"
	FieldOpNotEquals          FieldOperator = "NotEquals"
	FieldOpIn                 FieldOperator = "In"
	FieldOpNotIn              FieldOperator = "NotIn"
	FieldOpExists             FieldOperator = "Exists"
	FieldOpDoesNotExist       FieldOperator = "DoesNotExist"
	FieldOpGreaterThan        FieldOperator = "GreaterThan"
	FieldOpGreaterThanOrEqual FieldOperator = "GreaterThanOrEqual"
	FieldOpLessThan           FieldOperator = "LessThan"
	FieldOpLessThanOrEqual    FieldOperator = "LessThanOrEqual"
	FieldOpContains           FieldOperator = "Contains"
	FieldOpStartsWith         FieldOperator = "StartsWith"
)

// ValueSource names the value a predicate compares with.
type ValueSource struct {
	// path selects one value in the same object (no [*] or [key=value]), with the grammar of
	// field paths: "spec.replicas" in a predicate on "status.readyReplicas".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`
}

// FieldPredicate filters objects by the value at a path.
// +kubebuilder:validation:XValidation:rule="self.operator in ['Exists', 'DoesNotExist'] ? ((!has(self.values) || size(self.values) == 0) && !has(self.valueFrom)) : ((has(self.values) && size(self.values) > 0) != has(self.valueFrom))",message="Exists and DoesNotExist take no values; every other operator takes exactly one of values and valueFrom"
// +kubebuilder:validation:XValidation:rule="!has(self.valueFrom) || self.operator in ['Equals', 'NotEquals', 'GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual']",message="valueFrom is only for Equals, NotEquals, GreaterThan, GreaterThanOrEqual, LessThan and LessThanOrEqual"
// +kubebuilder:validation:XValidation:rule="!has(self.values) || self.operator in ['In', 'NotIn'] || size(self.values) <= 1",message="only In and NotIn take more than one value"
type FieldPredicate struct {
	// path selects a value in the object: dot notation ("spec.replicas"), quoted keys
	// ("metadata.annotations['example.com/team']"), a list wildcard ("spec.containers[*].image",
	// true when any element matches) or a keyed list element ("status.conditions[type=Ready].status").
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`

	// operator compares the value at path with values.
	// +required
	Operator FieldOperator `json:"operator"`

	// values are compared with the value at path. Numbers compare numerically when the stored
	// value is a number, "true" and "false" compare as booleans, anything else as strings.
	// Exactly one value for Equals, NotEquals, Contains, StartsWith and the comparisons; one or
	// more for In and NotIn; none for Exists and DoesNotExist.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=1024
	Values []string `json:"values,omitempty"`

	// valueFrom compares with the value at another path of the same object instead of values,
	// for Equals, NotEquals and the comparisons. Both values compare by their JSON types: numbers
	// numerically, strings as text, booleans for equality; different types never match.
	// +optional
	ValueFrom *ValueSource `json:"valueFrom,omitempty"`
}

// SortOrder is the direction of a sort key.
// +kubebuilder:validation:Enum=Ascending;Descending
type SortOrder string

// Sort orders.
const (
	SortAscending  SortOrder = "Ascending"
	SortDescending SortOrder = "Descending"
)

// SortKey orders results by the value at a path.
type SortKey struct {
	// path is the value to sort by: metadata.name, metadata.namespace,
	// metadata.creationTimestamp, any field path, or "cluster": the cluster an object was read
	// from (the local cluster first, then MemberClusters by name).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`

	// order is Ascending (the default) or Descending.
	// +optional
	// +kubebuilder:default=Ascending
	Order SortOrder `json:"order,omitempty"`
}

// OwnerSelector selects objects by an owner: one of their ownerReferences, or an owner of an
// owner up to depth levels up. The owner is named by its UID, or by its kind and name.
// +kubebuilder:validation:XValidation:rule="has(self.uid) != has(self.name)",message="set either uid, or apiVersion, kind and name"
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(self.kind) && has(self.kind) == has(self.apiVersion)",message="apiVersion, kind and name go together"
type OwnerSelector struct {
	// uid of the owner.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	UID string `json:"uid,omitempty"`

	// apiVersion of the owner's kind ("apps/v1"); only its group is compared, so any served
	// version names the kind. The kind must be indexed by a ResourceIndex.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion,omitempty"`

	// kind of the owner ("Deployment").
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`

	// name of the owner. Owners are found in the query's namespaces (and among cluster-scoped
	// objects of the kind).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// depth is how many levels up the owner may be: 1 keeps objects that the owner owns
	// directly, 2 also those owned by one of them, and so on. Levels are followed through the
	// kinds that ResourceIndex objects mirror only.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	Depth int32 `json:"depth,omitempty"`
}

// FilterGroup is one alternative of spec.anyOf: its filters are ANDed and mean what they mean
// in the spec. A group needs at least one filter.
// +kubebuilder:validation:XValidation:rule="has(self.names) || has(self.nameContains) || has(self.labelSelector) || has(self.fields) || has(self.ownerUID) || has(self.owner) || has(self.createdAfter) || has(self.createdBefore)",message="a group needs at least one filter"
// +kubebuilder:validation:XValidation:rule="!has(self.createdAfter) || !has(self.createdBefore) || timestamp(self.createdAfter) < timestamp(self.createdBefore)",message="createdAfter must be before createdBefore"
// +kubebuilder:validation:XValidation:rule="!has(self.owner) || !has(self.ownerUID)",message="set owner or ownerUID, not both"
type FilterGroup struct {
	// names keeps only objects with one of these exact names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// nameContains keeps only objects whose name contains this text, ignoring case.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NameContains string `json:"nameContains,omitempty"`

	// labelSelector keeps only objects whose labels match, with the semantics of Kubernetes label
	// selectors.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// fields keeps only objects for which every predicate holds.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Fields []FieldPredicate `json:"fields,omitempty"`

	// ownerUID keeps only objects that list this UID among their direct owner references.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	OwnerUID string `json:"ownerUID,omitempty"`

	// owner keeps only objects owned by this owner, directly or up to owner.depth levels up. It
	// replaces ownerUID, which is shorthand for owner.uid with depth 1.
	// +optional
	Owner *OwnerSelector `json:"owner,omitempty"`

	// createdAfter keeps only objects created strictly after this time (RFC 3339).
	// +optional
	CreatedAfter *metav1.Time `json:"createdAfter,omitempty"`

	// createdBefore keeps only objects created strictly before this time (RFC 3339).
	// +optional
	CreatedBefore *metav1.Time `json:"createdBefore,omitempty"`
}

// Facet asks for the most frequent values at a path over all matches.
type Facet struct {
	// path selects the values to count: a label ("metadata.labels['env']") or any field path,
	// list paths included ("spec.containers[*].image": a match counts once under each of its
	// distinct values).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`

	// limit is the number of values listed, the most frequent first.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Limit int32 `json:"limit,omitempty"`
}

// FacetResult holds the counts of one facet.
type FacetResult struct {
	// path is the facet's path as the spec gives it.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Path string `json:"path"`

	// values are the most frequent values, by count (descending) then value.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Values []FacetValueCount `json:"values,omitempty"`

	// other counts the matches under values not listed.
	// +optional
	// +kubebuilder:default=0
	Other int64 `json:"other"`

	// missing counts the matches without a value at path (missing, null, an object or a list).
	// +optional
	// +kubebuilder:default=0
	Missing int64 `json:"missing"`
}

// FacetValueCount is a value and the number of matches that have it.
type FacetValueCount struct {
	// value as text: strings as they are, numbers in their shortest form, booleans as "true"
	// and "false".
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`

	// count of matches with this value.
	// +required
	Count int64 `json:"count"`
}

// StalePolicy says whether a query keeps the objects of member clusters whose mirror is not Ready.
type StalePolicy string

const (
	// StaleInclude keeps stale objects, marked stale in status.results.
	StaleInclude StalePolicy = "Include"
	// StaleExclude leaves stale objects out.
	StaleExclude StalePolicy = "Exclude"
	// StaleOnly keeps stale objects only.
	StaleOnly StalePolicy = "Only"
)

// QuerySpec is the filter, sort and page that SearchQuery and ClusterSearchQuery share. Every
// filter that is set must match (they are ANDed), and with anyOf at least one of its groups.
type QuerySpec struct {
	// target is the kind to search. A ResourceIndex must mirror it.
	// +required
	Target TargetRef `json:"target"`

	// clusters keeps only objects read from these clusters: "local" is the cluster kubesift runs
	// in, any other name a MemberCluster. Empty keeps every cluster the index mirrors.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`
	Clusters []string `json:"clusters,omitempty"`

	// stale says what to do with objects from MemberClusters whose mirror is not Ready (the member
	// does not answer, or kubesift cannot read it; the ResourceIndex's status.clusters says why):
	// Include keeps them, as last seen and marked stale in status.results; Exclude leaves them
	// out; Only keeps nothing else. Objects of the local cluster are never stale.
	// +optional
	// +kubebuilder:default=Include
	// +kubebuilder:validation:Enum=Include;Exclude;Only
	Stale StalePolicy `json:"stale,omitempty"`

	// names keeps only objects with one of these exact names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// nameContains keeps only objects whose name contains this text, ignoring case.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NameContains string `json:"nameContains,omitempty"`

	// labelSelector keeps only objects whose labels match, with the semantics of Kubernetes label
	// selectors.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// fields keeps only objects for which every predicate holds.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Fields []FieldPredicate `json:"fields,omitempty"`

	// ownerUID keeps only objects that list this UID among their direct owner references.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	OwnerUID string `json:"ownerUID,omitempty"`

	// owner keeps only objects owned by this owner, directly or up to owner.depth levels up. It
	// replaces ownerUID, which is shorthand for owner.uid with depth 1.
	// +optional
	Owner *OwnerSelector `json:"owner,omitempty"`

	// createdAfter keeps only objects created strictly after this time (RFC 3339).
	// +optional
	CreatedAfter *metav1.Time `json:"createdAfter,omitempty"`

	// createdBefore keeps only objects created strictly before this time (RFC 3339).
	// +optional
	CreatedBefore *metav1.Time `json:"createdBefore,omitempty"`

	// anyOf keeps only objects that match at least one of these groups (in addition to every
	// other filter of the spec). Each group is a set of ANDed filters, like the spec's own.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	AnyOf []FilterGroup `json:"anyOf,omitempty"`

	// facets asks for counts by value over all matches (not only this page), reported in
	// status.facets: per path, the most frequent values with their counts, the count of the rest
	// and the count of matches without a value.
	// +optional
	// +listType=map
	// +listMapKey=path
	// +kubebuilder:validation:MaxItems=5
	Facets []Facet `json:"facets,omitempty"`

	// sort orders the results by up to three keys; the object's UID breaks remaining ties. The
	// default order is metadata.namespace, then metadata.name.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=3
	Sort []SortKey `json:"sort,omitempty"`

	// limit is the page size.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=500
	Limit int32 `json:"limit,omitempty"`

	// continue asks for the page after the one whose status.continue it copies. Empty asks for
	// the first page. A token only works for the query that produced it.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Continue string `json:"continue,omitempty"`
}

// ResultRef points at one object in the results. It never holds the object's content.
type ResultRef struct {
	// cluster the object was read from: a MemberCluster's name, empty for the local cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Cluster string `json:"cluster,omitempty"`

	// namespace of the object; empty for cluster-scoped kinds.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the object.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// uid of the object.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	UID string `json:"uid,omitempty"`

	// resourceVersion of the object when the results were computed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResourceVersion string `json:"resourceVersion,omitempty"`

	// stale is true when the object comes from a member cluster whose mirror is not Ready (the
	// member does not answer, or kubesift cannot read it): the object is as last seen, and may
	// have changed or gone since. The ResourceIndex's status.clusters says why.
	// +optional
	Stale bool `json:"stale,omitempty"`
}

// QueryStatus is the observed state of a SearchQuery or ClusterSearchQuery.
type QueryStatus struct {
	// observedGeneration is the generation of the spec that the results belong to.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// total is the number of matches over all pages.
	// +optional
	// +kubebuilder:default=0
	Total int64 `json:"total"`

	// count is the number of results in this page.
	// +optional
	// +kubebuilder:default=0
	Count int32 `json:"count"`

	// remaining is the number of matches after this page.
	// +optional
	// +kubebuilder:default=0
	Remaining int64 `json:"remaining"`

	// continue asks for the next page when copied into spec.continue of a query with the same
	// filter and sort. Empty on the last page.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Continue string `json:"continue,omitempty"`

	// facets holds the counts asked for by spec.facets, in the same order, over all matches and
	// from the same snapshot as total.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	Facets []FacetResult `json:"facets,omitempty"`

	// results is the current page, in order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Results []ResultRef `json:"results,omitempty"`

	// conditions describe the state of the query: Ready, and Reconciling or Stalled while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
