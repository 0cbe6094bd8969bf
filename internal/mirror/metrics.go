package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	objectsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubesift_index_objects",
		Help: "Objects of a kind currently mirrored in the index, refreshed every few seconds.",
	}, []string{"group", "version", "kind"})

	databaseBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kubesift_index_database_bytes",
		Help: "Size of the index database (in memory or in the file), refreshed every few seconds.",
	})

	eventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubesift_index_events_total",
		Help: "Watch events applied to the index, and deletes found by relists, by kind (Kind.version.group) and type (add, update, delete).",
	}, []string{"kind", "type"})

	applyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubesift_index_apply_duration_seconds",
		Help:    "Time to write one batch of changes (or one full replace) to the index.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
	})

	relistsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubesift_index_relists_total",
		Help: "Relists of a kind after a broken watch that found objects deleted meanwhile, by kind (Kind.version.group).",
	}, []string{"kind"})

	watchErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubesift_index_watch_errors_total",
		Help: "Broken list or watch calls of the mirrors and of the manager's informers, each followed by a relist or a retry, by type.",
	}, []string{"type"})

	registerMetricsOnce sync.Once
	registerMetricsErr  error
)

// RegisterMetrics adds the collectors to controller-runtime's registry once per process.
func RegisterMetrics() error {
	registerMetricsOnce.Do(func() {
		for _, c := range []prometheus.Collector{objectsGauge, databaseBytes, eventsTotal, applyDuration, relistsTotal, watchErrorsTotal} {
			if err := metrics.Registry.Register(c); err != nil {
				if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
					registerMetricsErr = fmt.Errorf("registering metrics: %w", err)
					return
				}
			}
		}
	})
	return registerMetricsErr
}

// KindLabel names a kind in metric labels and logs: "Kind.version.group", or "Kind.version" for
// the core group.
func KindLabel(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind + "." + gvk.Version
	}
	return gvk.Kind + "." + gvk.Version + "." + gvk.Group
}

// SetObjects records the number of mirrored objects of a kind.
func SetObjects(gvk schema.GroupVersionKind, n int64) {
	objectsGauge.WithLabelValues(gvk.Group, gvk.Version, gvk.Kind).Set(float64(n))
}

// SetDatabaseBytes records the size of the index database.
func SetDatabaseBytes(n int64) { databaseBytes.Set(float64(n)) }

// ForgetObjects removes the gauge of a kind that is no longer mirrored.
func ForgetObjects(gvk schema.GroupVersionKind) {
	objectsGauge.DeleteLabelValues(gvk.Group, gvk.Version, gvk.Kind)
}

// WatchErrorHandler counts a broken list or watch of an informer (an expired resource version, an
// API server that went away, a revoked permission) and then handles it as client-go does by
// default. The manager's cache uses it for the kubesift objects it watches.
func WatchErrorHandler(ctx context.Context, r *toolscache.Reflector, err error) {
	watchErrorsTotal.WithLabelValues(r.TypeDescription()).Inc()
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
}
