package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/sample"
)

// eventsMetric counts the informer events the manager applied to its index, by kind and type.
const eventsMetric = "kubesift_index_events_total"

// templateKindLabel selects the Template kind in the manager's metrics.
var templateKindLabel = fmt.Sprintf("kind=%q", sample.TemplateGVK.Kind+"."+sample.TemplateGVK.Version+"."+sample.TemplateGVK.Group)

// benchLabel marks the SearchQuery objects the benchmark creates.
const benchLabel, benchLabelValue = "bench.kubesift.io/query", "true"

// liveSelector is the filter of every live query. Updates of objects outside it (env=dev) can
// change no query's result.
var liveSelector = map[string]string{"env": "prod"}

// measureLiveQueries measures freshness with one live query and with o.liveQueries, then counts
// status writes during a burst of unrelated updates with all of them live.
func measureLiveQueries(ctx context.Context, c *cluster, mgr *manager, o options, n int) ([]FreshResult, BurstResult, error) {
	t, err := startTracker(ctx, c)
	if err != nil {
		return nil, BurstResult{}, err
	}
	defer t.stop()

	var out []FreshResult
	var queries []*searchv1alpha1.SearchQuery
	for _, live := range []int{1, o.liveQueries} {
		for i := len(queries); i < live; i++ {
			q := liveQuery(sample.Namespace(i % o.namespaces))
			if err := c.kube.Create(ctx, q); err != nil {
				return nil, BurstResult{}, fmt.Errorf("creating SearchQuery %s: %w", client.ObjectKeyFromObject(q), err)
			}
			queries = append(queries, q)
		}
		if err := waitQueriesReady(ctx, c, queries); err != nil {
			return nil, BurstResult{}, err
		}
		logf("  %s Ready; %d updates, one every %s", liveQueries(live), o.updates, o.updateInterval)
		r, err := measureFreshness(ctx, c, mgr, t, o, queries)
		if err != nil {
			return nil, BurstResult{}, err
		}
		logf("  freshness with %s: median %.0f ms, p99 %.0f ms, max %.0f ms over %d updates (%d status writes); "+
			"manager CPU %.2fs in %.1fs",
			liveQueries(live), r.Latency.Median, r.Latency.P99, r.MaxMs, r.Updates, r.StatusWrites,
			r.CPUSeconds, r.Seconds)
		out = append(out, r)
	}

	burst, err := measureBurst(ctx, c, mgr, t, o, n, len(queries))
	if err != nil {
		return nil, burst, err
	}
	logf("  %d unrelated updates in %.1fs with %d live queries (all applied by the manager %.1fs after the last): "+
		"%d SearchQuery status writes, manager CPU %.2fs",
		burst.Updates, burst.Seconds, burst.LiveQueries, burst.CatchUpSeconds, burst.StatusWrites, burst.CPUSeconds)
	return out, burst, nil
}

// liveQuery returns the benchmark's SearchQuery in namespace ns: a page of 50 objects of its
// namespace matching liveSelector.
func liveQuery(ns string) *searchv1alpha1.SearchQuery {
	return &searchv1alpha1.SearchQuery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-live", Labels: map[string]string{benchLabel: benchLabelValue}},
		Spec: searchv1alpha1.SearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{
			Target:        searchv1alpha1.TargetRef{APIVersion: sample.TemplateGVK.GroupVersion().String(), Kind: sample.TemplateGVK.Kind},
			LabelSelector: &metav1.LabelSelector{MatchLabels: liveSelector},
			Limit:         50,
		}},
	}
}

// waitQueriesReady waits until every query is Ready for its generation with results, and
// refreshes queries with what the API server holds.
func waitQueriesReady(ctx context.Context, c *cluster, queries []*searchv1alpha1.SearchQuery) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ready := 0
		for _, q := range queries {
			if err := c.kube.Get(ctx, client.ObjectKeyFromObject(q), q); err != nil {
				return fmt.Errorf("reading SearchQuery %s: %w", client.ObjectKeyFromObject(q), err)
			}
			if q.Status.ObservedGeneration == q.Generation && meta.IsStatusConditionTrue(q.Status.Conditions, searchv1alpha1.ConditionReady) &&
				len(q.Status.Results) > 0 {
				ready++
			}
		}
		if ready == len(queries) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d SearchQuery objects are not Ready with results after two minutes", len(queries)-ready, len(queries))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// measureFreshness updates objects shown in the queries' pages, round robin over the queries,
// one every o.updateInterval, and measures how long each takes to show in a query's status.
func measureFreshness(ctx context.Context, c *cluster, mgr *manager, t *tracker, o options,
	queries []*searchv1alpha1.SearchQuery) (FreshResult, error) {
	res := FreshResult{LiveQueries: len(queries), Updates: o.updates}
	t.reset()
	before, err := mgr.scrape(ctx)
	if err != nil {
		return res, err
	}
	start := time.Now()
	tick := time.NewTicker(o.updateInterval)
	defer tick.Stop()
	for i := range o.updates {
		q := queries[i%len(queries)]
		ref := q.Status.Results[(i/len(queries))%len(q.Status.Results)]
		rv, at, err := touch(ctx, c, ref.Namespace, ref.Name, "fresh")
		if err != nil {
			return res, err
		}
		t.expect(ref.Namespace+"/"+ref.Name, rv, at)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	lat, missing := t.wait(ctx, 30*time.Second)
	if missing > 0 {
		return res, fmt.Errorf("%d of %d updates never showed in a SearchQuery status within 30s", missing, o.updates)
	}
	res.Latency = summarize(lat)
	res.MaxMs = float64(slicesMax(lat).Microseconds()) / 1000
	res.StatusWrites = t.writeCount()
	after, err := mgr.scrape(ctx)
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds = after.get("process_cpu_seconds_total") - before.get("process_cpu_seconds_total")
	return res, nil
}

// measureBurst makes o.burst updates, from o.workers goroutines, of env=dev objects, which no
// live query can match, and counts the SearchQuery status writes until a few requery intervals
// after the last one.
func measureBurst(ctx context.Context, c *cluster, mgr *manager, t *tracker, o options, n, live int) (BurstResult, error) {
	res := BurstResult{LiveQueries: live}
	gen := generator(o)
	var targets [][2]string
	for i := 0; i < n && len(targets) < o.burst; i++ {
		obj := gen.Template(i)
		if obj.GetLabels()["env"] == "dev" {
			targets = append(targets, [2]string{obj.GetNamespace(), obj.GetName()})
		}
	}
	res.Updates = len(targets)
	// Let the writes of the freshness measurement finish.
	time.Sleep(2*mgr.requeryInterval + time.Second)
	before, err := mgr.scrape(ctx)
	if err != nil {
		return res, err
	}
	t.reset()

	start := time.Now()
	next := make(chan [2]string)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for tg := range next {
				if _, _, err := touch(ctx, c, tg[0], tg[1], "burst"); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for _, tg := range targets {
		next <- tg
	}
	close(next)
	wg.Wait()
	if err := failed.Load(); err != nil {
		return res, *err
	}
	res.Seconds = time.Since(start).Seconds()
	// Count only once the manager has applied every update to its index, and then for a few
	// requery intervals: a manager that lags behind would otherwise look silent.
	caughtUp := time.Now()
	for {
		m, err := mgr.scrape(ctx)
		if err != nil {
			return res, err
		}
		seen := m.get(eventsMetric, templateKindLabel, `type="update"`) - before.get(eventsMetric, templateKindLabel, `type="update"`)
		if int(seen) >= len(targets) {
			break
		}
		if time.Since(caughtUp) > 2*time.Minute {
			return res, fmt.Errorf("the manager applied %v of %d updates two minutes after the burst (broken watches meanwhile: %v)",
				seen, len(targets), m.get("kubesift_index_watch_errors_total")-before.get("kubesift_index_watch_errors_total"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.CatchUpSeconds = time.Since(caughtUp).Seconds()
	time.Sleep(3*mgr.requeryInterval + 2*time.Second)
	res.StatusWrites = t.writeCount()
	after, err := mgr.scrape(ctx)
	if err != nil {
		return res, err
	}
	res.CPUSeconds = after.get("process_cpu_seconds_total") - before.get("process_cpu_seconds_total")
	return res, nil
}

// touches numbers the writes of touch within a run.
var touches atomic.Int64

// touch changes an annotation of a Template and returns its new resourceVersion and the time
// the API server acknowledged the write. The value ends with a number no earlier write used: a
// run measures several sizes on one control plane and picks the same objects again, and a patch
// that changes nothing is no write (no new resourceVersion, no watch event).
func touch(ctx context.Context, c *cluster, ns, name, value string) (int64, time.Time, error) {
	value = fmt.Sprint(value, "-", touches.Add(1))
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"bench.kubesift.io/touch":%q}}}`, value)
	out, err := c.templates.Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	at := time.Now()
	if err != nil {
		return 0, at, fmt.Errorf("updating %s/%s: %w", ns, name, err)
	}
	rv, err := strconv.ParseInt(out.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, at, fmt.Errorf("the resourceVersion of %s/%s is not a number: %w", ns, name, err)
	}
	return rv, at, nil
}

// tracker follows the benchmark's SearchQuery objects through a watch: the newest
// resourceVersion each result shows, and how many status writes happened.
type tracker struct {
	c      *cluster
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	seen    map[string]seenRV // namespace/name -> newest resourceVersion shown in a status
	pending []pendingUpdate
	lat     []time.Duration
	writes  int
	changed chan struct{} // closed and replaced on every event
}

type seenRV struct {
	rv int64
	at time.Time
}

type pendingUpdate struct {
	key string
	rv  int64
	at  time.Time
}

// startTracker starts watching the benchmark's SearchQuery objects in every namespace.
func startTracker(ctx context.Context, c *cluster) (*tracker, error) {
	ctx, cancel := context.WithCancel(ctx)
	t := &tracker{c: c, cancel: cancel, done: make(chan struct{}), seen: map[string]seenRV{}, changed: make(chan struct{})}
	w, err := c.kube.Watch(ctx, &searchv1alpha1.SearchQueryList{}, client.MatchingLabels{benchLabel: benchLabelValue})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching SearchQuery objects: %w", err)
	}
	go t.run(ctx, w)
	return t, nil
}

func (t *tracker) stop() {
	t.cancel()
	<-t.done
}

// run consumes watch events until ctx ends, watching again when the server ends a watch.
func (t *tracker) run(ctx context.Context, w watch.Interface) {
	defer close(t.done)
	for {
		for ev := range w.ResultChan() {
			t.observe(ev, time.Now())
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		var err error
		if w, err = t.c.kube.Watch(ctx, &searchv1alpha1.SearchQueryList{}, client.MatchingLabels{benchLabel: benchLabelValue}); err != nil {
			logf("  watching SearchQuery objects again: %v", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// observe records the results a SearchQuery shows and resolves the updates they reflect.
func (t *tracker) observe(ev watch.Event, at time.Time) {
	q, ok := ev.Object.(*searchv1alpha1.SearchQuery)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Type == watch.Modified {
		t.writes++
	}
	for _, r := range q.Status.Results {
		rv, err := strconv.ParseInt(r.ResourceVersion, 10, 64)
		if err != nil {
			continue
		}
		key := r.Namespace + "/" + r.Name
		if rv > t.seen[key].rv {
			t.seen[key] = seenRV{rv: rv, at: at}
		}
	}
	t.pending = t.resolveLocked(t.pending)
	close(t.changed)
	t.changed = make(chan struct{})
}

// resolveLocked records the latency of every pending update a status already shows and returns
// the others.
func (t *tracker) resolveLocked(pending []pendingUpdate) []pendingUpdate {
	var left []pendingUpdate
	for _, p := range pending {
		s := t.seen[p.key]
		if s.rv < p.rv {
			left = append(left, p)
			continue
		}
		t.lat = append(t.lat, max(s.at.Sub(p.at), 0))
	}
	return left
}

// reset forgets the latencies and the write count.
func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending, t.lat, t.writes = nil, nil, 0
}

// expect registers an update of key to rv acknowledged at at.
func (t *tracker) expect(key string, rv int64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = t.resolveLocked(append(t.pending, pendingUpdate{key: key, rv: rv, at: at}))
}

// wait waits up to timeout for every pending update to show, and returns the latencies and the
// number of updates that never showed.
func (t *tracker) wait(ctx context.Context, timeout time.Duration) ([]time.Duration, int) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		left, ch := len(t.pending), t.changed
		if left == 0 {
			lat := append([]time.Duration(nil), t.lat...)
			t.mu.Unlock()
			return lat, 0
		}
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, left
		case <-deadline:
			return nil, left
		}
	}
}

// writeCount returns the number of SearchQuery modifications seen since the last reset.
func (t *tracker) writeCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writes
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
