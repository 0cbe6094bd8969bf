package index

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubesift/kubesift/internal/sample"
)

// relistPage is the page size of the mirror's LIST.
const relistPage = 500

// sampleDecoded returns n sample Templates as a LIST decodes them: a JSON round trip turns
// their numbers into int64 and their maps into map[string]any.
func sampleDecoded(b *testing.B, n int) []*unstructured.Unstructured {
	g := sample.Generator{Namespaces: 100, Seed: 1}
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		o := g.Template(i)
		o.SetUID(typesUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
		o.SetResourceVersion(fmt.Sprint(1000 + i))
		js, err := o.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			b.Fatal(err)
		}
		objs[i] = u
	}
	return objs
}

// BenchmarkRelist writes 10,000 sample Templates (or $RELIST_BENCH_N) into an empty kind as the
// mirror's initial sync does: BeginRelist, one ApplyRelist per page of 500, CommitRelist. "file"
// is the index that config/manager deploys (--index-path); "memory" the in-memory default.
// $RELIST_BENCH_CACHE sets Options.CacheBytes (the manager's --index-cache-bytes).
func BenchmarkRelist(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("RELIST_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	objs := sampleDecoded(b, n)
	for _, file := range []bool{true, false} {
		name := "memory"
		if file {
			name = "file"
		}
		b.Run(name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				opts := Options{}
				if v, err := strconv.ParseInt(os.Getenv("RELIST_BENCH_CACHE"), 10, 64); err == nil {
					opts.CacheBytes = v
				}
				if file {
					opts.Path = filepath.Join(b.TempDir(), "index.db")
				}
				s, err := Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Register(sample.TemplateGVK, KindConfig{Namespaced: true, Fields: sampleFields}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := cpuTime()
				if err := s.BeginRelist(sample.TemplateGVK, ""); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < n; i += relistPage {
					if err := s.ApplyRelist(sample.TemplateGVK, "", objs[i:min(i+relistPage, n)], nil); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.CommitRelist(sample.TemplateGVK, "", nil); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				b.StopTimer()
				_ = s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n*b.N), "µs/object")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/object")
		})
	}
}
