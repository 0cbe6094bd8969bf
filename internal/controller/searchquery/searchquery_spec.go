package searchquery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
)

// toIndexSpec converts the shared query spec into the index's query spec. namespaces restricts
// the search; nil searches every namespace. A malformed label selector yields an error wrapping
// index.ErrInvalidQuery.
func toIndexSpec(spec *searchv1alpha1.QuerySpec, namespaces []string) (index.Spec, error) {
	out := index.Spec{
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
			return index.Spec{}, &index.QueryError{Field: "labels", Reason: index.ErrInvalidValue, Msg: err.Error()}
		}
		out.Labels = sel
	}
	for _, f := range spec.Fields {
		out.Fields = append(out.Fields, index.FieldPredicate{
			Path:     f.Path,
			Operator: index.Operator(f.Operator),
			Values:   f.Values,
		})
	}
	out.CreatedAfter = timePtr(spec.CreatedAfter)
	out.CreatedBefore = timePtr(spec.CreatedBefore)
	for _, k := range spec.Sort {
		out.Sort = append(out.Sort, index.SortKey{Path: k.Path, Descending: k.Order == searchv1alpha1.SortDescending})
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

// specFields maps the index's names for parts of a query to the spec fields users write.
var specFields = map[string]string{
	"labels": "labelSelector",
}

// invalidQueryMessage says what is wrong with a query and where, in terms of the object's spec:
// "spec.fields[1].path: ...". Errors that do not locate a field are returned as they are.
func invalidQueryMessage(err error) string {
	var qe *index.QueryError
	if !errors.As(err, &qe) || qe.Field == "" {
		return err.Error()
	}
	field := qe.Field
	head, rest := field, ""
	if i := strings.IndexAny(field, ".["); i >= 0 {
		head, rest = field[:i], field[i:]
	}
	if mapped, ok := specFields[head]; ok {
		head = mapped
	}
	return fmt.Sprintf("spec.%s%s: %s", head, rest, qe.Msg)
}
