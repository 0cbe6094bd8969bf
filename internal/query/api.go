package query

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// LocalCluster names, in a query spec's clusters, the cluster kubesift runs in; the index
// and result references call it "".
const LocalCluster = "local"

// FromAPI converts the query spec of a SearchQuery or ClusterSearchQuery into a Spec.
// namespaces restricts the search; nil searches every namespace. A malformed label
// selector yields an *Error at "labels"; everything else is checked by Compile.
func FromAPI(spec *searchv1alpha1.QuerySpec, namespaces []string) (Spec, error) {
	out := Spec{
		GVK:        spec.Target.GroupVersionKind(),
		Namespaces: namespaces,
		Limit:      int(spec.Limit),
	}
	for _, c := range spec.Clusters {
		if c == LocalCluster {
			c = ""
		}
		out.Clusters = append(out.Clusters, c)
	}
	top, err := groupFromAPI(searchv1alpha1.FilterGroup{
		Names: spec.Names, NameContains: spec.NameContains, LabelSelector: spec.LabelSelector, Fields: spec.Fields,
		OwnerUID: spec.OwnerUID, Owner: spec.Owner, CreatedAfter: spec.CreatedAfter, CreatedBefore: spec.CreatedBefore,
	}, "")
	if err != nil {
		return Spec{}, err
	}
	out.Names, out.NameContains, out.Labels, out.Fields = top.Names, top.NameContains, top.Labels, top.Fields
	out.OwnerUID, out.Owner, out.CreatedAfter, out.CreatedBefore = top.OwnerUID, top.Owner, top.CreatedAfter, top.CreatedBefore
	for i, g := range spec.AnyOf {
		group, err := groupFromAPI(g, fmt.Sprintf("anyOf[%d].", i))
		if err != nil {
			return Spec{}, err
		}
		out.AnyOf = append(out.AnyOf, group)
	}
	for _, f := range spec.Facets {
		out.Facets = append(out.Facets, FacetSpec{Path: f.Path, Limit: int(f.Limit)})
	}
	for _, k := range spec.Sort {
		out.Sort = append(out.Sort, SortKey{Path: k.Path, Descending: k.Order == searchv1alpha1.SortDescending})
	}
	return out, nil
}

// groupFromAPI converts the filters of a spec or of one of its anyOf groups; at locates the
// group in errors.
func groupFromAPI(g searchv1alpha1.FilterGroup, at string) (Group, error) {
	out := Group{Names: g.Names, NameContains: g.NameContains, OwnerUID: g.OwnerUID}
	if g.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(g.LabelSelector)
		if err != nil {
			return Group{}, &Error{Field: at + "labels", Reason: ErrInvalidValue, Msg: err.Error()}
		}
		out.Labels = sel
	}
	for _, f := range g.Fields {
		fp := FieldPredicate{Path: f.Path, Operator: Operator(f.Operator), Values: f.Values}
		if f.ValueFrom != nil {
			fp.ValueFrom = f.ValueFrom.Path
		}
		out.Fields = append(out.Fields, fp)
	}
	if o := g.Owner; o != nil {
		out.Owner = &OwnerSpec{UID: o.UID, Kind: o.Kind, Name: o.Name, Depth: int(o.Depth)}
		if o.APIVersion != "" {
			gv, err := schema.ParseGroupVersion(o.APIVersion)
			if err != nil {
				return Group{}, &Error{Field: at + "owner.apiVersion", Reason: ErrInvalidValue, Msg: err.Error()}
			}
			out.Owner.Group = gv.Group
		}
	}
	out.CreatedAfter = timePtr(g.CreatedAfter)
	out.CreatedBefore = timePtr(g.CreatedBefore)
	return out, nil
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
