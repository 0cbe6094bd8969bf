package mirror

import (
	"errors"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// TestEventDecoder checks that watch events decode as client-go decodes them for the
// dynamic client: unstructured objects whose integers stay int64, an ERROR event whose
// Status becomes the API error, and io.EOF at the end.
func TestEventDecoder(t *testing.T) {
	g := NewWithT(t)
	stream := `{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"7"},"spec":{"replicas":3,"ratio":0.5}}}
{"type":"BOOKMARK","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}
{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}
`
	d := newEventDecoder(io.NopCloser(strings.NewReader(stream)))
	typ, obj, err := d.Decode()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(typ).To(Equal(watch.Added))
	u := obj.(*unstructured.Unstructured)
	g.Expect(u.GetName()).To(Equal("a"))
	g.Expect(u.Object["spec"]).To(Equal(map[string]any{"replicas": int64(3), "ratio": 0.5}))

	typ, obj, err = d.Decode()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(typ).To(Equal(watch.Bookmark))
	g.Expect(obj.(*unstructured.Unstructured).GetAnnotations()).To(HaveKeyWithValue("k8s.io/initial-events-end", "true"))

	typ, obj, err = d.Decode()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(typ).To(Equal(watch.Error))
	g.Expect(apierrors.IsResourceExpired(apierrors.FromObject(obj))).To(BeTrue())

	_, _, err = d.Decode()
	g.Expect(errors.Is(err, io.EOF)).To(BeTrue())
}

// TestEventDecoderRejects checks that an event of an unknown type or without an object is
// an error, not an event.
func TestEventDecoderRejects(t *testing.T) {
	for _, stream := range []string{
		`{"type":"RENAMED","object":{"kind":"ConfigMap"}}`,
		`{"type":"ADDED"}`,
		`{"type":"ADDED","object":{"kind":`,
	} {
		d := newEventDecoder(io.NopCloser(strings.NewReader(stream)))
		if _, _, err := d.Decode(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("decoding %s: got %v, want an error", stream, err)
		}
	}
}
