package query

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// FromAPI converts the query spec of a SearchQuery or ClusterSearchQuery into a Spec.
// namespaces restricts the search; nil searches every namespace. A malformed label
// selector yields an *Error at "labels"; everything else is checked by Compile.
func FromAPI(spec *searchv1alpha1.QuerySpec, namespaces []string) (Spec, error) {
	out := Spec{
		GVK:          spec.Target.GroupVersionKind(),
		Namespaces:   namespaces,
		Names:        spec.Names,
		NameContains: spec.NameContains,
		OwnerUID:     spec.OwnerUID,
		Limit:        int(spec.Limit),
	}
	if spec.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(spec.LabelSelector)
		if err != nil {
			return Spec{}, &Error{Field: "labels", Reason: ErrInvalidValue, Msg: err.Error()}
		}
		out.Labels = sel
	}
	for _, f := range spec.Fields {
		out.Fields = append(out.Fields, FieldPredicate{
			Path:     f.Path,
			Operator: Operator(f.Operator),
			Values:   f.Values,
		})
	}
	out.CreatedAfter = timePtr(spec.CreatedAfter)
	out.CreatedBefore = timePtr(spec.CreatedBefore)
	for _, k := range spec.Sort {
		out.Sort = append(out.Sort, SortKey{Path: k.Path, Descending: k.Order == searchv1alpha1.SortDescending})
	}
	return out, nil
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
