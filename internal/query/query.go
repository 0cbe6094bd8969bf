package query

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
)

// Limits enforced by Compile.
const (
	MaxNames          = 100
	MaxPredicates     = 50
	MaxSortKeys       = 3
	MaxLimit          = 500
	DefaultLimit      = 50
	MaxValues         = 100
	MaxValueLength    = 1024
	MaxLabelClauses   = 50
	MaxNameContainsSz = 253
	MaxGroups         = 10
	MaxFacets         = 5
	DefaultFacetLimit = 20
	MaxFacetLimit     = 100
	MaxOwnerDepth     = 5
	MaxClusters       = 100
	// MaxClusterName is the longest cluster name: a MemberCluster's name is a DNS label.
	MaxClusterName = 63
)

// ClusterPath is the sort path that orders results by the cluster an object was read from
// (the local cluster, "", first). It names no field of the object: filters select clusters
// with Spec.Clusters, and fields, valueFrom and facets refuse it.
const ClusterPath = "cluster"

// Operator is a field predicate operator.
type Operator string

// Field predicate operators.
const (
	OpEquals             Operator = "Equals"
	OpNotEquals          Operator = "NotEquals"
	OpIn                 Operator = "In"
	OpNotIn              Operator = "NotIn"
	OpExists             Operator = "Exists"
	OpDoesNotExist       Operator = "DoesNotExist"
	OpGreaterThan        Operator = "GreaterThan"
	OpGreaterThanOrEqual Operator = "GreaterThanOrEqual"
	OpLessThan           Operator = "LessThan"
	OpLessThanOrEqual    Operator = "LessThanOrEqual"
	OpContains           Operator = "Contains"
	OpStartsWith         Operator = "StartsWith"
)

// FieldPredicate filters on the value(s) at Path. The value compared with is Values, or
// the value at ValueFrom, a path of the same object, when that is set.
type FieldPredicate struct {
	Path      string
	Operator  Operator
	Values    []string
	ValueFrom string
}

// SortKey orders results by the value at Path.
type SortKey struct {
	Path       string
	Descending bool
}

// Spec is an uncompiled query. All filters are ANDed, and when AnyOf is set an object must
// also match at least one of its groups.
type Spec struct {
	GVK        schema.GroupVersionKind
	Namespaces []string
	// Clusters restricts the search to objects read from these clusters: "" is the local
	// cluster, any other name a MemberCluster. None means every cluster.
	Clusters      []string
	Names         []string
	NameContains  string
	Labels        labels.Selector
	Fields        []FieldPredicate
	OwnerUID      string
	Owner         *OwnerSpec
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	AnyOf         []Group
	Sort          []SortKey
	Limit         int
	// Facets asks for the counts of the values at these paths over all matches.
	Facets []FacetSpec
}

// FacetSpec asks for the Limit most frequent values at Path (0: DefaultFacetLimit).
type FacetSpec struct {
	Path  string
	Limit int
}

// Facet is a compiled FacetSpec.
type Facet struct {
	Path  Path
	Text  string // the path as the spec gives it
	Limit int
}

// Group is one alternative of Spec.AnyOf. Its filters are ANDed, with the meaning they have
// in a Spec; a group needs at least one.
type Group struct {
	Names         []string
	NameContains  string
	Labels        labels.Selector
	Fields        []FieldPredicate
	OwnerUID      string
	Owner         *OwnerSpec
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// OwnerSpec names an owner: by UID, or by group, kind and name. Depth is how many levels up
// the owner may be (0 means 1: a direct owner).
type OwnerSpec struct {
	UID   string
	Group string
	Kind  string
	Name  string
	Depth int
}

// Owner is a compiled OwnerSpec.
type Owner struct {
	// UID names the owner; "" when Kind and Name do.
	UID string
	// Kind and Name name the owners (any version of the kind, in the query's namespaces and
	// among cluster-scoped objects) when UID is "".
	Kind schema.GroupKind
	Name string
	// Depth is how many levels up the owner may be, 1..MaxOwnerDepth.
	Depth int
}

// Predicate is a compiled field predicate. Negated operators are compiled to their
// positive form with Negate set: NotEquals and NotIn to In, DoesNotExist to Exists, and
// Equals is In with one value.
type Predicate struct {
	Path   Path
	Op     Operator // OpIn, OpExists, OpContains, OpStartsWith or a comparison
	Negate bool
	Values []Value // sorted, distinct; empty when From is set
	// From is the path of the value to compare with (valueFrom), a path that selects at most
	// one value; nil for constant Values. Only OpIn (Equals) and the comparisons take it.
	From *Path
}

// Value is a user value with its possible typed readings precomputed: the text always, a
// number when the text is a JSON number, a boolean for "true" and "false".
type Value struct {
	Text    string
	IsNum   bool
	IsInt   bool // an integer that fits int64: Int holds it exactly
	Int     int64
	Float   float64
	IsTrue  bool
	IsFalse bool
}

// NewValue reads s every way a JSON value can compare equal to it.
func NewValue(s string) Value {
	v := Value{Text: s, IsTrue: s == "true", IsFalse: s == "false"}
	if isJSONNumber(s) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			v.IsNum, v.IsInt, v.Int, v.Float = true, true, i, float64(i)
		} else if f, err := strconv.ParseFloat(s, 64); err == nil {
			v.IsNum, v.Float = true, f
		}
	}
	return v
}

// SortField is a compiled sort key.
type SortField struct {
	Path Path // a scalar path
	Desc bool
}

// LabelRequirement is a compiled label selector requirement.
type LabelRequirement struct {
	Key    string
	Op     selection.Operator // one of the operators Compile accepts
	Values []string           // sorted, distinct
	Num    int64              // the operand of GreaterThan and LessThan
}

// Filter is a compiled conjunction of filters: the top level of a query or one group of
// its anyOf. It is immutable and safe for concurrent use.
type Filter struct {
	at            string   // the position of the filter in the spec: "" or "anyOf[i]."
	clusters      []string // top level only
	namespaces    []string
	names         []string
	nameContains  string // lower-cased
	selector      labels.Selector
	labelReqs     []LabelRequirement
	labelsNothing bool
	preds         []Predicate
	ownerUID      string
	owner         *Owner // nil when ownerUID (or nothing) says it all
	createdAfter  *time.Time
	createdBefore *time.Time
}

// Query is a validated, compiled Spec. It is immutable and safe for concurrent use. Its
// embedded Filter is the top level; AnyOf returns the groups.
type Query struct {
	Filter
	gvk         schema.GroupVersionKind
	anyOf       []*Filter
	sort        []SortField
	limit       int
	facets      []Facet
	fingerprint string
}

// Compile validates spec and returns a Query. Errors are *Error values wrapping
// ErrInvalidQuery and one of ErrInvalidPath or ErrInvalidValue.
func Compile(spec Spec) (*Query, error) {
	q := &Query{gvk: spec.GVK}
	if spec.GVK.Kind == "" || spec.GVK.Version == "" {
		return nil, Errorf("target", ErrInvalidValue, "apiVersion and kind are required")
	}
	if len(spec.Namespaces) > MaxNames {
		return nil, Errorf("namespaces", ErrInvalidValue, "%d namespaces given, the maximum is %d", len(spec.Namespaces), MaxNames)
	}
	q.namespaces = sortedUnique(spec.Namespaces)
	if len(spec.Clusters) > MaxClusters {
		return nil, Errorf("clusters", ErrInvalidValue, "%d clusters given, the maximum is %d", len(spec.Clusters), MaxClusters)
	}
	q.clusters = sortedUnique(spec.Clusters)
	for i, c := range q.clusters {
		if !validClusterName(c) {
			return nil, Errorf(fmt.Sprintf("clusters[%d]", i), ErrInvalidValue,
				"%q is not a cluster name: lower-case letters, digits, '-' and '.', at most %d characters", c, MaxClusterName)
		}
	}
	top := Group{Names: spec.Names, NameContains: spec.NameContains, Labels: spec.Labels, Fields: spec.Fields,
		OwnerUID: spec.OwnerUID, Owner: spec.Owner, CreatedAfter: spec.CreatedAfter, CreatedBefore: spec.CreatedBefore}
	if err := q.compile(top); err != nil {
		return nil, err
	}
	if len(spec.AnyOf) > MaxGroups {
		return nil, Errorf("anyOf", ErrInvalidValue, "%d groups given, the maximum is %d", len(spec.AnyOf), MaxGroups)
	}
	for i, g := range spec.AnyOf {
		f := &Filter{at: fmt.Sprintf("anyOf[%d].", i)}
		if err := f.compile(g); err != nil {
			return nil, err
		}
		if f.empty() {
			return nil, Errorf(fmt.Sprintf("anyOf[%d]", i), ErrInvalidValue, "a group needs at least one filter")
		}
		q.anyOf = append(q.anyOf, f)
	}
	if len(spec.Sort) > MaxSortKeys {
		return nil, Errorf("sort", ErrInvalidValue, "%d sort keys given, the maximum is %d", len(spec.Sort), MaxSortKeys)
	}
	for i, k := range spec.Sort {
		p, err := ParsePath(k.Path)
		if err != nil {
			return nil, PathError(fmt.Sprintf("sort[%d].path", i), err)
		}
		if !p.Scalar() && !p.Is(ClusterPath) {
			return nil, Errorf(fmt.Sprintf("sort[%d].path", i), ErrInvalidPath,
				"sort path %q must select a single value: [*] and [key=value] are not allowed", k.Path)
		}
		q.sort = append(q.sort, SortField{Path: p, Desc: k.Descending})
	}
	if len(q.sort) == 0 {
		q.sort = []SortField{{Path: mustPath("metadata.namespace")}, {Path: mustPath("metadata.name")}}
	}
	switch {
	case spec.Limit == 0:
		q.limit = DefaultLimit
	case spec.Limit < 1 || spec.Limit > MaxLimit:
		return nil, Errorf("limit", ErrInvalidValue, "%d is out of range 1..%d", spec.Limit, MaxLimit)
	default:
		q.limit = spec.Limit
	}
	if len(spec.Facets) > MaxFacets {
		return nil, Errorf("facets", ErrInvalidValue, "%d facets given, the maximum is %d", len(spec.Facets), MaxFacets)
	}
	for i, fs := range spec.Facets {
		p, err := ParsePath(fs.Path)
		if err != nil {
			return nil, PathError(fmt.Sprintf("facets[%d].path", i), err)
		}
		if p.Is(ClusterPath) {
			return nil, clusterPathError(fmt.Sprintf("facets[%d].path", i))
		}
		f := Facet{Path: p, Text: fs.Path, Limit: fs.Limit}
		switch {
		case fs.Limit == 0:
			f.Limit = DefaultFacetLimit
		case fs.Limit < 1 || fs.Limit > MaxFacetLimit:
			return nil, Errorf(fmt.Sprintf("facets[%d].limit", i), ErrInvalidValue, "%d is out of range 1..%d", fs.Limit, MaxFacetLimit)
		}
		q.facets = append(q.facets, f)
	}
	// Facets do not change the pages, so they are not part of the fingerprint: a continue
	// token stays valid when they change.
	q.fingerprint = q.computeFingerprint()
	return q, nil
}

// compile validates g into f. Errors are located at f's position.
func (f *Filter) compile(g Group) *Error {
	err := f.compileGroup(g)
	if err != nil {
		err.Field = f.at + err.Field
	}
	return err
}

func (f *Filter) compileGroup(g Group) *Error {
	if len(g.Names) > MaxNames {
		return Errorf("names", ErrInvalidValue, "%d names given, the maximum is %d", len(g.Names), MaxNames)
	}
	f.names = sortedUnique(g.Names)
	if len(g.NameContains) > MaxNameContainsSz {
		return Errorf("nameContains", ErrInvalidValue, "longer than %d bytes", MaxNameContainsSz)
	}
	f.nameContains = strings.ToLower(g.NameContains)
	if len(g.OwnerUID) > MaxValueLength {
		return Errorf("ownerUID", ErrInvalidValue, "longer than %d bytes", MaxValueLength)
	}
	f.ownerUID = g.OwnerUID
	if err := f.compileOwner(g); err != nil {
		return err
	}
	if g.Labels != nil && !g.Labels.Empty() {
		f.selector = g.Labels
		reqs, selectable := g.Labels.Requirements()
		if !selectable {
			f.labelsNothing = true
		}
		if len(reqs) > MaxLabelClauses {
			return Errorf("labels", ErrInvalidValue, "%d requirements given, the maximum is %d", len(reqs), MaxLabelClauses)
		}
		for i, r := range reqs {
			lr := LabelRequirement{Key: r.Key(), Op: r.Operator(), Values: sortedUnique(r.Values().UnsortedList())}
			switch lr.Op {
			case selection.Equals, selection.DoubleEquals, selection.In, selection.NotEquals, selection.NotIn,
				selection.Exists, selection.DoesNotExist:
			case selection.GreaterThan, selection.LessThan:
				if len(lr.Values) != 1 {
					return Errorf(fmt.Sprintf("labels[%d]", i), ErrInvalidValue, "operator %s needs exactly one value", lr.Op)
				}
				n, err := strconv.ParseInt(lr.Values[0], 10, 64)
				if err != nil {
					return Errorf(fmt.Sprintf("labels[%d]", i), ErrInvalidValue, "operator %s needs an integer value, got %q", lr.Op, lr.Values[0])
				}
				lr.Num = n
			default:
				return Errorf(fmt.Sprintf("labels[%d]", i), ErrInvalidValue, "unsupported operator %q", lr.Op)
			}
			f.labelReqs = append(f.labelReqs, lr)
		}
	}
	if len(g.Fields) > MaxPredicates {
		return Errorf("fields", ErrInvalidValue, "%d predicates given, the maximum is %d", len(g.Fields), MaxPredicates)
	}
	for i, fp := range g.Fields {
		p, err := compilePredicate(fp)
		if err != nil {
			err.Field = fmt.Sprintf("fields[%d].%s", i, err.Field)
			return err
		}
		f.preds = append(f.preds, p)
	}
	f.createdAfter, f.createdBefore = g.CreatedAfter, g.CreatedBefore
	return nil
}

// clusterPathError refuses ClusterPath where a path names a field of the object.
func clusterPathError(field string) *Error {
	return Errorf(field, ErrInvalidPath,
		"%q names the cluster an object was read from, not a field: select clusters with clusters, or sort by it", ClusterPath)
}

// validClusterName reports whether c is "" (the local cluster) or a MemberCluster's name: a
// DNS subdomain of at most MaxClusterName characters.
func validClusterName(c string) bool {
	if c == "" {
		return true
	}
	if len(c) > MaxClusterName || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !alnum(c[i]) && c[i] != '-' && c[i] != '.' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func mustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// PathError returns err, an error of ParsePath, as an *Error at field. Its message drops
// the "invalid path: " prefix, since the Error records the sentinel.
func PathError(field string, err error) *Error {
	return Errorf(field, ErrInvalidPath, "%s", strings.TrimPrefix(err.Error(), ErrInvalidPath.Error()+": "))
}

func compilePredicate(f FieldPredicate) (Predicate, *Error) {
	p, err := ParsePath(f.Path)
	if err != nil {
		return Predicate{}, PathError("path", err)
	}
	if p.Is(ClusterPath) {
		return Predicate{}, clusterPathError("path")
	}
	pr := Predicate{Path: p}
	n := len(f.Values)
	if f.ValueFrom != "" {
		switch f.Operator {
		case OpEquals, OpNotEquals, OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		default:
			return Predicate{}, Errorf("valueFrom", ErrInvalidValue, "operator %s does not take valueFrom", f.Operator)
		}
		if n > 0 {
			return Predicate{}, Errorf("values", ErrInvalidValue, "values and valueFrom are exclusive")
		}
		from, err := ParsePath(f.ValueFrom)
		if err != nil {
			return Predicate{}, PathError("valueFrom.path", err)
		}
		if from.Is(ClusterPath) {
			return Predicate{}, clusterPathError("valueFrom.path")
		}
		if !from.Scalar() {
			return Predicate{}, Errorf("valueFrom.path", ErrInvalidPath,
				"valueFrom path %q must select a single value: [*] and [key=value] are not allowed", f.ValueFrom)
		}
		pr.From = &from
		n = 1 // the referenced value stands for the one value these operators take
	}
	need := func(ok bool, what string) *Error {
		if ok {
			return nil
		}
		return Errorf("values", ErrInvalidValue, "operator %s needs %s, got %d values", f.Operator, what, n)
	}
	var qe *Error
	switch f.Operator {
	case OpEquals, OpNotEquals, OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		qe = need(n == 1, "exactly one value")
	case OpIn, OpNotIn, OpContains, OpStartsWith:
		qe = need(n >= 1 && n <= MaxValues, fmt.Sprintf("1 to %d values", MaxValues))
	case OpExists, OpDoesNotExist:
		qe = need(n == 0, "no values")
	default:
		return Predicate{}, Errorf("operator", ErrInvalidValue, "unknown operator %q", f.Operator)
	}
	if qe != nil {
		return Predicate{}, qe
	}
	switch f.Operator {
	case OpNotEquals:
		pr.Op, pr.Negate = OpIn, true
	case OpNotIn:
		pr.Op, pr.Negate = OpIn, true
	case OpDoesNotExist:
		pr.Op, pr.Negate = OpExists, true
	case OpEquals:
		pr.Op = OpIn
	default:
		pr.Op = f.Operator
	}
	for i, v := range sortedUnique(f.Values) {
		if len(v) > MaxValueLength {
			return Predicate{}, Errorf(fmt.Sprintf("values[%d]", i), ErrInvalidValue, "longer than %d bytes", MaxValueLength)
		}
		pr.Values = append(pr.Values, NewValue(v))
	}
	return pr, nil
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// Fingerprint identifies the query's kind, filter, sort and limit. Two queries with the
// same fingerprint return the same pages; continue tokens are bound to it.
func (q *Query) Fingerprint() string { return q.fingerprint }

// GVK returns the kind the query targets.
func (q *Query) GVK() schema.GroupVersionKind { return q.gvk }

// Limit returns the page size.
func (q *Query) Limit() int { return q.limit }

// The accessors below return the compiled filter and sort. Slices are shared: callers
// must not modify them.

// Position returns where the filter is in the spec ("" at the top level, "anyOf[i]." for a
// group), the prefix of the fields its errors name.
func (f *Filter) Position() string { return f.at }

// Clusters returns the clusters an object must be read from (none: any), sorted; "" is the
// local cluster. Only the top level has them.
func (f *Filter) Clusters() []string { return f.clusters }

// InCluster reports whether objects read from cluster ("" for the local cluster) can match
// the query. Matches looks at the object alone, which does not say its cluster.
func (q *Query) InCluster(cluster string) bool {
	if len(q.clusters) == 0 {
		return true
	}
	i := sort.SearchStrings(q.clusters, cluster)
	return i < len(q.clusters) && q.clusters[i] == cluster
}

// Namespaces returns the namespaces an object must be in (none: any), sorted.
func (f *Filter) Namespaces() []string { return f.namespaces }

// Names returns the names an object must have (none: any), sorted.
func (f *Filter) Names() []string { return f.names }

// NameContains returns the lower-cased substring the name must contain ("": any).
func (f *Filter) NameContains() string { return f.nameContains }

// LabelRequirements returns the label selector's requirements.
func (f *Filter) LabelRequirements() []LabelRequirement { return f.labelReqs }

// MatchesNoLabels reports a label selector that no object can satisfy.
func (f *Filter) MatchesNoLabels() bool { return f.labelsNothing }

// Predicates returns the field predicates, in spec order.
func (f *Filter) Predicates() []Predicate { return f.preds }

// OwnerUID returns the uid an object must have among its direct owner references ("": any,
// or an owner that OwnerChain names).
func (f *Filter) OwnerUID() string { return f.ownerUID }

// OwnerChain returns the owner that an object must have more than one level up, or name by
// kind and name; nil when OwnerUID says all. Only the index can resolve it: Matches treats it
// as satisfied.
func (f *Filter) OwnerChain() *Owner { return f.owner }

// FollowsOwners reports whether a filter of the query names an owner that only the index can
// resolve (OwnerChain): whether a change to an object of any kind may change its matches.
func (q *Query) FollowsOwners() bool {
	for _, f := range q.Filters() {
		if f.owner != nil {
			return true
		}
	}
	return false
}

// CreatedAfter returns the exclusive lower bound on metadata.creationTimestamp, or nil.
func (f *Filter) CreatedAfter() *time.Time { return f.createdAfter }

// CreatedBefore returns the exclusive upper bound on metadata.creationTimestamp, or nil.
func (f *Filter) CreatedBefore() *time.Time { return f.createdBefore }

// AnyOf returns the groups of which an object must match at least one (none: no such
// condition).
func (q *Query) AnyOf() []*Filter { return q.anyOf }

// Filters returns the top-level filter followed by the groups.
func (q *Query) Filters() []*Filter { return append([]*Filter{&q.Filter}, q.anyOf...) }

// Facets returns the facets to count, in spec order.
func (q *Query) Facets() []Facet { return q.facets }

// Sort returns the sort keys; metadata.namespace, metadata.name when the spec has none.
func (q *Query) Sort() []SortField { return q.sort }

func (q *Query) computeFingerprint() string {
	h := sha256.New()
	w := func(parts ...string) {
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s", len(p), p)
		}
		h.Write([]byte{0})
	}
	w("v1", q.gvk.Group, q.gvk.Version, q.gvk.Kind)
	// The clusters are left out: they follow the author's grants as much as the spec, and a
	// cursor means the same in any set of clusters (the page after it, in the sort order), so a
	// token stays valid when a grant changes between two pages, and the read API, which reads
	// the local cluster only, continues a query's pages.
	w(q.namespaces...)
	for i, f := range q.Filters() {
		if i > 0 {
			w("anyOf", strconv.Itoa(i))
		}
		f.fingerprint(w)
	}
	for _, s := range q.sort {
		w("sort", s.Path.String(), strconv.FormatBool(s.Desc))
	}
	w("limit", strconv.Itoa(q.limit))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// fingerprint writes the filter's parts with w.
func (f *Filter) fingerprint(w func(parts ...string)) {
	w(f.names...)
	w(f.nameContains)
	if f.selector != nil {
		w("labels", f.selector.String())
	}
	for _, p := range f.preds {
		vals := make([]string, len(p.Values))
		for i, v := range p.Values {
			vals[i] = v.Text
		}
		if p.From != nil {
			vals = append(vals, "from", p.From.String())
		}
		w(append([]string{"pred", p.Path.String(), string(p.Op), strconv.FormatBool(p.Negate)}, vals...)...)
	}
	w("owner", f.ownerUID)
	if o := f.owner; o != nil {
		w("chain", o.UID, o.Kind.Group, o.Kind.Kind, o.Name, strconv.Itoa(o.Depth))
	}
	for _, t := range []*time.Time{f.createdAfter, f.createdBefore} {
		if t != nil {
			w("t", t.UTC().Format(time.RFC3339Nano))
		} else {
			w("t")
		}
	}
}

// Matches evaluates the query's filter (not sort or paging) on obj, with the same semantics
// as Search. Objects of another kind never match.
func (q *Query) Matches(obj *unstructured.Unstructured) bool {
	if obj == nil || obj.GroupVersionKind() != q.gvk {
		return false
	}
	if !q.Filter.Matches(obj) {
		return false
	}
	if len(q.anyOf) == 0 {
		return true
	}
	for _, g := range q.anyOf {
		if g.Matches(obj) {
			return true
		}
	}
	return false
}

// Matches evaluates the filter alone on obj, whatever its kind.
func (f *Filter) Matches(obj *unstructured.Unstructured) bool {
	if len(f.namespaces) > 0 && !containsSorted(f.namespaces, obj.GetNamespace()) {
		return false
	}
	if len(f.names) > 0 && !containsSorted(f.names, obj.GetName()) {
		return false
	}
	if f.nameContains != "" && !strings.Contains(strings.ToLower(obj.GetName()), f.nameContains) {
		return false
	}
	if f.labelsNothing {
		return false
	}
	if f.selector != nil && !f.selector.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	// An owner chain (f.owner) needs the other objects: only the index resolves it, and
	// Matches answers as if it held, so a change is never missed.
	if f.ownerUID != "" {
		found := false
		for _, o := range obj.GetOwnerReferences() {
			if string(o.UID) == f.ownerUID {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.createdAfter != nil || f.createdBefore != nil {
		ts, ok := CreationTime(obj.Object)
		if !ok {
			return false
		}
		if f.createdAfter != nil && !ts.After(*f.createdAfter) {
			return false
		}
		if f.createdBefore != nil && !ts.Before(*f.createdBefore) {
			return false
		}
	}
	for _, p := range f.preds {
		if !p.matches(obj.Object) {
			return false
		}
	}
	return true
}

func containsSorted(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// CreationTime reads metadata.creationTimestamp with second precision, as stored.
func CreationTime(obj map[string]any) (time.Time, bool) {
	md, _ := obj["metadata"].(map[string]any)
	s, _ := md["creationTimestamp"].(string)
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.Truncate(time.Second), true
}

// Unfiltered reports whether the query matches every object of its kind.
func (q *Query) Unfiltered() bool { return q.empty() && len(q.anyOf) == 0 }

// empty reports whether the filter has no condition.
func (f *Filter) empty() bool {
	return len(f.clusters) == 0 && len(f.namespaces) == 0 && len(f.names) == 0 && f.nameContains == "" && f.selector == nil &&
		!f.labelsNothing && len(f.preds) == 0 && f.ownerUID == "" && f.owner == nil && f.createdAfter == nil && f.createdBefore == nil
}

// compileOwner validates g.Owner. An owner by UID at depth 1 is ownerUID; anything else is
// kept as a chain for the index to resolve.
func (f *Filter) compileOwner(g Group) *Error {
	o := g.Owner
	if o == nil {
		return nil
	}
	if g.OwnerUID != "" {
		return Errorf("owner", ErrInvalidValue, "set owner or ownerUID, not both")
	}
	depth := o.Depth
	if depth == 0 {
		depth = 1
	}
	if depth < 1 || depth > MaxOwnerDepth {
		return Errorf("owner.depth", ErrInvalidValue, "%d is out of range 1..%d", o.Depth, MaxOwnerDepth)
	}
	byName := o.Kind != "" || o.Name != "" || o.Group != ""
	switch {
	case o.UID != "" && byName:
		return Errorf("owner", ErrInvalidValue, "set either uid, or apiVersion, kind and name")
	case o.UID == "" && (o.Kind == "" || o.Name == ""):
		return Errorf("owner", ErrInvalidValue, "set either uid, or apiVersion, kind and name")
	}
	for field, v := range map[string]string{"uid": o.UID, "kind": o.Kind, "name": o.Name, "apiVersion": o.Group} {
		if len(v) > MaxValueLength {
			return Errorf("owner."+field, ErrInvalidValue, "longer than %d bytes", MaxValueLength)
		}
	}
	if !byName && depth == 1 {
		f.ownerUID = o.UID
		return nil
	}
	f.owner = &Owner{UID: o.UID, Kind: schema.GroupKind{Group: o.Group, Kind: o.Kind}, Name: o.Name, Depth: depth}
	return nil
}
