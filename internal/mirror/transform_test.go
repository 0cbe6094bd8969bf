package mirror

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
)

func unstructuredObject(apiVersion, kind string, extra map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata": map[string]any{
			"name":      "x",
			"namespace": "ns",
			"annotations": map[string]any{
				lastAppliedAnnotation: `{"big":"copy"}`,
				"team":                "payments",
			},
			"managedFields": []any{map[string]any{"manager": "kubectl", "operation": "Apply"}},
		},
	}}
	for k, v := range extra {
		u.Object[k] = v
	}
	return u
}

func TestTransformObject(t *testing.T) {
	g := NewWithT(t)

	// An unstructured object keeps its content but loses managedFields and last-applied.
	cm := unstructuredObject("v1", "ConfigMap", map[string]any{"data": map[string]any{"k": "v"}})
	out, err := TransformObject(cm)
	g.Expect(err).NotTo(HaveOccurred())
	u := out.(*unstructured.Unstructured)
	g.Expect(u.GetManagedFields()).To(BeEmpty())
	g.Expect(u.GetAnnotations()).To(Equal(map[string]string{"team": "payments"}))
	g.Expect(u.Object["data"]).To(Equal(map[string]any{"k": "v"}))

	// Secrets lose their values, unstructured or typed.
	sec := unstructuredObject("v1", "Secret", map[string]any{
		"data":       map[string]any{"password": "aHVudGVyMg=="},
		"stringData": map[string]any{"token": "t"},
		"type":       "Opaque",
	})
	out, err = TransformObject(sec)
	g.Expect(err).NotTo(HaveOccurred())
	u = out.(*unstructured.Unstructured)
	g.Expect(u.Object).NotTo(HaveKey("data"))
	g.Expect(u.Object).NotTo(HaveKey("stringData"))
	g.Expect(u.Object["type"]).To(Equal("Opaque"))

	// A Secret-like object of another group keeps its data.
	other := unstructuredObject("example.com/v1", "Secret", map[string]any{"data": map[string]any{"k": "v"}})
	out, _ = TransformObject(other)
	g.Expect(out.(*unstructured.Unstructured).Object).To(HaveKey("data"))

	typed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:          "db",
			Annotations:   map[string]string{lastAppliedAnnotation: "{}"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Data:       map[string][]byte{"password": []byte("hunter2")},
		StringData: map[string]string{"token": "t"},
	}
	out, err = TransformObject(typed)
	g.Expect(err).NotTo(HaveOccurred())
	s := out.(*corev1.Secret)
	g.Expect(s.Data).To(BeNil())
	g.Expect(s.StringData).To(BeNil())
	g.Expect(s.ManagedFields).To(BeNil())
	g.Expect(s.Annotations).To(BeNil())

	// Other typed objects lose managedFields only.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}}}
	out, _ = TransformObject(pod)
	g.Expect(out.(*corev1.Pod).ManagedFields).To(BeNil())

	// Tombstones are transformed inside and never fail.
	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/x", Obj: unstructuredObject("v1", "Secret", map[string]any{"data": map[string]any{"k": "v"}})}
	out, err = TransformObject(tomb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(toolscache.DeletedFinalStateUnknown).Obj.(*unstructured.Unstructured).Object).NotTo(HaveKey("data"))
	for _, v := range []any{nil, "text", 42, toolscache.DeletedFinalStateUnknown{Key: "ns/x"}, (*unstructured.Unstructured)(nil), (*corev1.Secret)(nil)} {
		_, err := TransformObject(v)
		g.Expect(err).NotTo(HaveOccurred())
	}
}
