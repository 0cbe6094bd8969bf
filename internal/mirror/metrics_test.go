package mirror

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestWatchErrorHandlerCountsBrokenWatches(t *testing.T) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("apps.example.com/v1alpha1")
	obj.SetKind("Template")
	r := toolscache.NewReflector(&toolscache.ListWatch{}, obj, toolscache.NewStore(toolscache.MetaNamespaceKeyFunc), 0)
	counter := watchErrorsTotal.WithLabelValues(r.TypeDescription())
	before := testutil.ToFloat64(counter)

	WatchErrorHandler(context.Background(), r, errors.New("connection refused"))
	WatchErrorHandler(context.Background(), r, errors.New("connection refused"))

	if got := testutil.ToFloat64(counter) - before; got != 2 {
		t.Fatalf("counted %v broken watches of %q, want 2", got, r.TypeDescription())
	}
	if r.TypeDescription() == "" {
		t.Fatal("the reflector has no type description to label the metric with")
	}
}

func TestKindLabel(t *testing.T) {
	for gvk, want := range map[schema.GroupVersionKind]string{
		{Version: "v1", Kind: "ConfigMap"}:                             "ConfigMap.v1",
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}: "Certificate.v1.cert-manager.io",
	} {
		if got := KindLabel(gvk); got != want {
			t.Errorf("KindLabel(%v) = %q, want %q", gvk, got, want)
		}
	}
}
