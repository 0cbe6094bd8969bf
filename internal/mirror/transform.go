package mirror

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
)

// lastAppliedAnnotation holds a full copy of the object written by kubectl apply. It is as big as
// the object and of no use to a search.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TransformObject trims an object before the manager's cache stores it: it drops
// metadata.managedFields and the last-applied-configuration annotation from every object, and the
// data and stringData of core v1 Secrets, so that secret values are neither held in memory nor
// written to the index. Objects it does not know, such as tombstones without a final state, are
// returned unchanged. It is meant as the cache's DefaultTransform.
func TransformObject(obj any) (any, error) {
	switch o := obj.(type) {
	case toolscache.DeletedFinalStateUnknown:
		inner, err := TransformObject(o.Obj)
		if err != nil {
			return obj, err
		}
		o.Obj = inner
		return o, nil
	case *unstructured.Unstructured:
		if o == nil {
			return obj, nil
		}
		if o.GetAPIVersion() == "v1" && o.GetKind() == "Secret" {
			unstructured.RemoveNestedField(o.Object, "data")
			unstructured.RemoveNestedField(o.Object, "stringData")
		}
		// Straight on the map: GetManagedFields would convert every entry to a typed struct
		// only to learn that there are some.
		if md, ok := o.Object["metadata"].(map[string]any); ok {
			delete(md, "managedFields")
			if ann, ok := md["annotations"].(map[string]any); ok {
				if _, has := ann[lastAppliedAnnotation]; has {
					delete(ann, lastAppliedAnnotation)
					if len(ann) == 0 {
						delete(md, "annotations")
					}
				}
			}
		}
		return o, nil
	case *corev1.Secret:
		if o == nil {
			return obj, nil
		}
		o.Data = nil
		o.StringData = nil
		trimMeta(o)
		return o, nil
	case metav1.Object:
		if o == nil {
			return obj, nil
		}
		trimMeta(o)
		return o, nil
	default:
		return obj, nil
	}
}

// trimMeta drops managedFields and the last-applied-configuration annotation.
func trimMeta(o metav1.Object) {
	if o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	ann := o.GetAnnotations()
	if _, ok := ann[lastAppliedAnnotation]; ok {
		delete(ann, lastAppliedAnnotation)
		if len(ann) == 0 {
			ann = nil
		}
		o.SetAnnotations(ann)
	}
}
