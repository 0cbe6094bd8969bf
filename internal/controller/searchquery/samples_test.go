package searchquery

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/query"
)

// TestSamples checks that the sample queries pass admission and compile.
func TestSamples(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "config", "samples", "search_v1alpha1_*searchquery_*.yaml"))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(files).NotTo(BeEmpty())
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := NewWithT(t)
			data, err := os.ReadFile(f)
			g.Expect(err).NotTo(HaveOccurred())
			var meta struct {
				Kind string `json:"kind"`
			}
			g.Expect(yaml.Unmarshal(data, &meta)).To(Succeed())
			var spec *searchv1alpha1.QuerySpec
			var namespaces []string
			switch meta.Kind {
			case "SearchQuery":
				sq := &searchv1alpha1.SearchQuery{}
				g.Expect(yaml.UnmarshalStrict(data, sq)).To(Succeed())
				sq.Namespace = ns
				g.Expect(k8s.Create(context.Background(), sq)).To(Succeed())
				spec, namespaces = &sq.Spec.QuerySpec, []string{ns}
			case "ClusterSearchQuery":
				csq := &searchv1alpha1.ClusterSearchQuery{}
				g.Expect(yaml.UnmarshalStrict(data, csq)).To(Succeed())
				csq.Name += "-" + ns
				g.Expect(k8s.Create(context.Background(), csq)).To(Succeed())
				t.Cleanup(func() { _ = k8s.Delete(context.Background(), csq) })
				spec, namespaces = &csq.Spec.QuerySpec, csq.Spec.Namespaces
			default:
				t.Fatalf("unexpected kind %q", meta.Kind)
			}
			is, err := query.FromAPI(spec, namespaces)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = query.Compile(is)
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}
