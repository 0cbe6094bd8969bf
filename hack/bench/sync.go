package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/sample"
)

// resourceIndexName is the name of the benchmark's ResourceIndex.
const resourceIndexName = "bench-templates"

// listPageSize is the page size of the paginated LIST baseline, client-go's pager default.
const listPageSize = 500

// measureSync measures the paginated LIST baseline, then creates the ResourceIndex and measures
// the time until it is Ready, with the manager's CPU and memory around it.
func measureSync(ctx context.Context, c *cluster, mgr *manager, n int) (SyncResult, CostResult, error) {
	res := SyncResult{ListPageSize: listPageSize}
	var cost CostResult
	var listAPI []float64
	for range 3 {
		a0 := apiServerCPU(c)
		start := time.Now()
		got, err := paginatedList(ctx, c)
		if err != nil {
			return res, cost, err
		}
		if got != n {
			return res, cost, fmt.Errorf("the paginated LIST returned %d objects, want %d", got, n)
		}
		res.ListSamples = append(res.ListSamples, time.Since(start).Seconds())
		listAPI = append(listAPI, apiServerCPU(c)-a0)
	}
	s := slices.Clone(res.ListSamples)
	slices.Sort(s)
	res.ListSeconds = s[len(s)/2]
	slices.Sort(listAPI)
	res.ListAPIServerCPUSeconds = listAPI[len(listAPI)/2]
	logf("  paginated LIST of %d objects (pages of %d): %.2fs median of %d (%v); kube-apiserver CPU %.2fs",
		n, listPageSize, res.ListSeconds, len(s), res.ListSamples, res.ListAPIServerCPUSeconds)

	// Let the manager settle after its start before taking its idle footprint.
	time.Sleep(3 * time.Second)
	idle, err := mgr.scrape(ctx)
	if err != nil {
		return res, cost, err
	}
	cost.IdleRSSBytes = idle.get("process_resident_memory_bytes")
	cost.IdleHeapBytes = idle.get("go_memstats_heap_inuse_bytes")

	w, err := c.kube.Watch(ctx, &searchv1alpha1.ResourceIndexList{})
	if err != nil {
		return res, cost, fmt.Errorf("watching ResourceIndex objects: %w", err)
	}
	defer w.Stop()
	ri := benchResourceIndex(nil)
	peak := samplePeak(ctx, mgr)
	a0 := apiServerCPU(c)
	start := time.Now()
	if err := c.kube.Create(ctx, ri); err != nil {
		peak.stop()
		return res, cost, fmt.Errorf("creating the ResourceIndex: %w", err)
	}
	err = waitReady(ctx, w, resourceIndexName, 10*time.Minute)
	res.ResourceIndexSeconds = time.Since(start).Seconds()
	res.SyncAPIServerCPUSeconds = apiServerCPU(c) - a0
	cost.PeakRSSBytes, cost.PeakHeapBytes = peak.stop()
	if err != nil {
		return res, cost, fmt.Errorf("waiting for the ResourceIndex to be Ready: %w", err)
	}
	synced, err := mgr.scrape(ctx)
	if err != nil {
		return res, cost, err
	}
	res.CPUSeconds = synced.get("process_cpu_seconds_total") - idle.get("process_cpu_seconds_total")
	logf("  ResourceIndex Ready after %.2fs (%.2fx the LIST), manager CPU %.2fs, kube-apiserver CPU %.2fs", res.ResourceIndexSeconds,
		res.ResourceIndexSeconds/res.ListSeconds, res.CPUSeconds, res.SyncAPIServerCPUSeconds)

	// The object gauge is refreshed every few seconds; wait for it, then let the sync's garbage
	// be collected before reading the footprint.
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := mgr.scrape(ctx)
		if err != nil {
			return res, cost, err
		}
		cost.IndexObjects = m.get("kubesift_index_objects", `kind="Template"`)
		if int(cost.IndexObjects) == n {
			break
		}
		if time.Now().After(deadline) {
			return res, cost, fmt.Errorf("kubesift_index_objects is %v a minute after Ready, want %d", cost.IndexObjects, n)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(5 * time.Second)
	after, err := mgr.scrape(ctx)
	if err != nil {
		return res, cost, err
	}
	cost.RSSBytes = after.get("process_resident_memory_bytes")
	cost.HeapBytes = after.get("go_memstats_heap_inuse_bytes")
	cost.IndexBytes = after.get("kubesift_index_database_bytes")
	logf("  peak during the sync: RSS %s, Go heap in use %s; index database %s",
		bytesIEC(cost.PeakRSSBytes), bytesIEC(cost.PeakHeapBytes), bytesIEC(cost.IndexBytes))
	logf("  manager RSS %s (idle %s, %.0f B/object), Go heap in use %s (idle %s, %.0f B/object)",
		bytesIEC(cost.RSSBytes), bytesIEC(cost.IdleRSSBytes), cost.RSSPerObject(n),
		bytesIEC(cost.HeapBytes), bytesIEC(cost.IdleHeapBytes), cost.HeapPerObject(n))
	return res, cost, nil
}

// apiServerCPU returns kube-apiserver's CPU time in seconds, or 0 where it cannot be read (the
// difference of two readings is then 0: not measured).
func apiServerCPU(c *cluster) float64 {
	d, err := c.cp.APIServerCPU()
	if err != nil {
		return 0
	}
	return d.Seconds()
}

// peakSampler records the manager's highest RSS and Go heap while it runs.
type peakSampler struct {
	cancel    context.CancelFunc
	done      chan struct{}
	rss, heap float64
}

// samplePeak scrapes the manager every 250 ms until stop is called.
func samplePeak(ctx context.Context, mgr *manager) *peakSampler {
	ctx, cancel := context.WithCancel(ctx)
	p := &peakSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			if m, err := mgr.scrape(ctx); err == nil {
				p.rss = max(p.rss, m.get("process_resident_memory_bytes"))
				p.heap = max(p.heap, m.get("go_memstats_heap_inuse_bytes"))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peaks.
func (p *peakSampler) stop() (rss, heap float64) {
	p.cancel()
	<-p.done
	return p.rss, p.heap
}

// paginatedList lists every Template in pages of listPageSize, as client-go's pager and an
// informer's initial list do, and returns how many there were. The resourceVersion is unset: a
// consistent read.
func paginatedList(ctx context.Context, c *cluster) (int, error) {
	count := 0
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := c.templates.List(ctx, opts)
		if err != nil {
			return count, fmt.Errorf("listing a page: %w", err)
		}
		count += len(list.Items)
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return count, nil
		}
	}
}

// waitReady waits for a watch event showing the named object Ready=True for its generation.
func waitReady(ctx context.Context, w watch.Interface, name string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("not Ready within %s", timeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("the watch ended")
			}
			obj, ok := ev.Object.(client.Object)
			if !ok || obj.GetName() != name {
				continue
			}
			var conds []metav1.Condition
			var observed int64
			switch o := obj.(type) {
			case *searchv1alpha1.ResourceIndex:
				conds, observed = o.Status.Conditions, o.Status.ObservedGeneration
			case *searchv1alpha1.SearchQuery:
				conds, observed = o.Status.Conditions, o.Status.ObservedGeneration
			}
			if observed == obj.GetGeneration() && meta.IsStatusConditionTrue(conds, searchv1alpha1.ConditionReady) {
				return nil
			}
		}
	}
}

// cleanupManagerObjects deletes the benchmark's SearchQuery objects and its ResourceIndex, and
// waits until they are gone (the ResourceIndex's finalizer needs the manager running).
func cleanupManagerObjects(ctx context.Context, c *cluster) error {
	var list searchv1alpha1.SearchQueryList
	if err := c.kube.List(ctx, &list, client.MatchingLabels{benchLabel: benchLabelValue}); err != nil {
		return fmt.Errorf("listing SearchQuery objects: %w", err)
	}
	for i := range list.Items {
		if err := c.kube.Delete(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting SearchQuery %s: %w", client.ObjectKeyFromObject(&list.Items[i]), err)
		}
	}
	ri := &searchv1alpha1.ResourceIndex{ObjectMeta: metav1.ObjectMeta{Name: resourceIndexName}}
	if err := c.kube.Delete(ctx, ri); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the ResourceIndex: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := c.kube.Get(ctx, client.ObjectKeyFromObject(ri), ri)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for the ResourceIndex to go: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the ResourceIndex is still there two minutes after its deletion")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// benchResourceIndex is the benchmark's ResourceIndex of the sample Templates, with the indexed
// fields of §2, mirroring the MemberClusters that clusters selects too (nil: the local cluster).
func benchResourceIndex(clusters *searchv1alpha1.ClusterSelection) *searchv1alpha1.ResourceIndex {
	return &searchv1alpha1.ResourceIndex{
		ObjectMeta: metav1.ObjectMeta{Name: resourceIndexName},
		Spec: searchv1alpha1.ResourceIndexSpec{
			Target:   searchv1alpha1.TargetRef{APIVersion: sample.TemplateGVK.GroupVersion().String(), Kind: sample.TemplateGVK.Kind},
			Fields:   indexedFields,
			Clusters: clusters,
		},
	}
}
