package searchquery

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/query"
)

// liveQueries keeps one controller's queries current. Reconcile records each query's compiled
// filter here; catalog changes are matched against those filters and the affected queries are
// put back on the controller's queue. Each query is evaluated at most once per spacing: the
// interval, or costShare times what its last search took when that is longer, so that a
// query under a steady stream of changes costs at most about a tenth of a core, and a cheap
// one follows the changes within milliseconds.
//
// The catalog calls onChange on the mirror's hot path, so onChange only records the change; a
// goroutine started with the controller does the matching, without the lock, and the
// enqueueing. Pending work is bounded per kind: past maxPendingChanges changes of one kind, they
// collapse into "every query of the kind", so memory is bounded by the number of queries, never
// by the rate of changes, and the mirror never waits for query evaluation.
type liveQueries struct {
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	byKind  map[schema.GroupVersionKind]map[types.NamespacedName]*liveQuery
	kindOf  map[types.NamespacedName]schema.GroupVersionKind
	pending map[schema.GroupVersionKind]*pendingChanges
	// chained holds the queries that follow owner chains (query.FollowsOwners): a change of
	// any kind may change their matches, so every change re-queues them (within their
	// spacing). chainWork says that a change arrived since the last dispatch.
	chained   map[types.NamespacedName]schema.GroupVersionKind
	chainWork bool
	queue     workqueue.TypedRateLimitingInterface[reconcile.Request]
	wake      chan struct{}
}

// maxPendingChanges is how many changes of one kind wait to be matched before they collapse
// into a re-evaluation of every query of the kind.
const maxPendingChanges = 1024

// pendingChanges is the work waiting for one kind.
type pendingChanges struct {
	// all is set when every query of the kind is to be evaluated again.
	all     bool
	changes []catalog.Change
}

// liveQuery is one registered query.
type liveQuery struct {
	// query is the compiled filter that object changes are matched against.
	query *query.Query
	// evaluated is when Reconcile last evaluated the query.
	evaluated time.Time
	// due is when the query is scheduled to be queued; zero when no evaluation is pending.
	due time.Time
	// cost is how long the query's last search took.
	cost time.Duration
}

// costShare bounds the share of a core one query's re-evaluations take: the time between two
// evaluations is at least costShare times the cost of one.
const costShare = 10

func newLiveQueries(interval time.Duration) *liveQueries {
	return &liveQueries{
		interval: interval,
		now:      time.Now,
		byKind:   map[schema.GroupVersionKind]map[types.NamespacedName]*liveQuery{},
		kindOf:   map[types.NamespacedName]schema.GroupVersionKind{},
		pending:  map[schema.GroupVersionKind]*pendingChanges{},
		chained:  map[types.NamespacedName]schema.GroupVersionKind{},
		wake:     make(chan struct{}, 1),
	}
}

// track records that the query named key, compiled as q, is being evaluated now. Later changes
// of q's kind that q matches re-queue it.
func (l *liveQueries) track(key types.NamespacedName, q *query.Query) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gvk := q.GVK()
	l.removeLocked(key)
	byKey := l.byKind[gvk]
	if byKey == nil {
		byKey = map[types.NamespacedName]*liveQuery{}
		l.byKind[gvk] = byKey
	}
	byKey[key] = &liveQuery{query: q, evaluated: l.now()}
	l.kindOf[key] = gvk
	if q.FollowsOwners() {
		l.chained[key] = gvk
	}
}

// observe records how long the search of the query named key, compiled as q, took.
func (l *liveQueries) observe(key types.NamespacedName, q *query.Query, cost time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lq := l.byKind[q.GVK()][key]; lq != nil && lq.query == q {
		lq.cost = cost
	}
}

// spacing is the shortest time between two evaluations of lq.
func (l *liveQueries) spacing(lq *liveQuery) time.Duration {
	return max(l.interval, costShare*lq.cost)
}

// forget stops re-queueing the query named key.
func (l *liveQueries) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(key)
}

func (l *liveQueries) removeLocked(key types.NamespacedName) {
	gvk, ok := l.kindOf[key]
	if !ok {
		return
	}
	delete(l.kindOf, key)
	delete(l.chained, key)
	delete(l.byKind[gvk], key)
	if len(l.byKind[gvk]) == 0 {
		delete(l.byKind, gvk)
	}
}

// keys returns the queries tracked on gvk.
func (l *liveQueries) keys(gvk schema.GroupVersionKind) []types.NamespacedName {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(l.byKind[gvk]))
	for k := range l.byKind[gvk] {
		out = append(out, k)
	}
	return out
}

// wants reports whether a query is tracked on gvk, so that the mirror publishes single-object
// changes of the kind with their old versions.
func (l *liveQueries) wants(gvk schema.GroupVersionKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKind[gvk]) > 0
}

// onChange receives catalog changes. It never blocks and holds the lock only to record the
// change.
func (l *liveQueries) onChange(ch catalog.Change) {
	l.mu.Lock()
	if l.queue == nil || (len(l.byKind[ch.GVK]) == 0 && len(l.chained) == 0) {
		// Not started (for example, not the leader) or nobody asks about this kind.
		l.mu.Unlock()
		return
	}
	if len(l.chained) > 0 {
		l.chainWork = true
	}
	if len(l.byKind[ch.GVK]) == 0 {
		l.mu.Unlock()
		l.wakeUp()
		return
	}
	p := l.pending[ch.GVK]
	if p == nil {
		p = &pendingChanges{}
		l.pending[ch.GVK] = p
	}
	switch {
	case p.all:
	case ch.KindWide() || len(p.changes) >= maxPendingChanges:
		p.all, p.changes = true, nil
	default:
		p.changes = append(p.changes, ch)
	}
	l.mu.Unlock()
	l.wakeUp()
}

func (l *liveQueries) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// source returns the controller source that feeds re-evaluations into the controller's queue.
func (l *liveQueries) source() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		l.mu.Lock()
		l.queue = q
		l.mu.Unlock()
		go l.run(ctx)
		return nil
	})
}

func (l *liveQueries) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.queue = nil
			clear(l.pending)
			l.chainWork = false
			l.mu.Unlock()
			return
		case <-l.wake:
			l.dispatch()
		}
	}
}

// dispatch matches the pending changes against the registered queries and schedules every
// query that a change can affect. Matching runs on a snapshot of the queries, without the lock,
// so onChange never waits for it.
func (l *liveQueries) dispatch() {
	type kindWork struct {
		gvk     schema.GroupVersionKind
		work    *pendingChanges
		queries map[types.NamespacedName]*query.Query
	}
	l.mu.Lock()
	works := make([]kindWork, 0, len(l.pending))
	for gvk, p := range l.pending {
		qs := make(map[types.NamespacedName]*query.Query, len(l.byKind[gvk]))
		for key, lq := range l.byKind[gvk] {
			qs[key] = lq.query
		}
		works = append(works, kindWork{gvk: gvk, work: p, queries: qs})
	}
	clear(l.pending)
	type hit struct {
		gvk   schema.GroupVersionKind
		key   types.NamespacedName
		query *query.Query
	}
	var hits []hit
	if l.chainWork {
		for key, gvk := range l.chained {
			if lq := l.byKind[gvk][key]; lq != nil {
				hits = append(hits, hit{gvk, key, lq.query})
			}
		}
		l.chainWork = false
	}
	l.mu.Unlock()

	for _, kw := range works {
		for key, q := range kw.queries {
			if kw.work.all || matchesAny(q, kw.work.changes) {
				hits = append(hits, hit{kw.gvk, key, q})
			}
		}
	}
	if len(hits) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queue == nil {
		return
	}
	now := l.now()
	for _, h := range hits {
		// The query may have been forgotten or recompiled meanwhile; a recompiled query was
		// just evaluated, after the change.
		if lq := l.byKind[h.gvk][h.key]; lq != nil && lq.query == h.query {
			l.scheduleLocked(h.key, lq, now)
		}
	}
}

// matchesAny reports whether q matched the old or the new version of one of the changes.
func matchesAny(q *query.Query, changes []catalog.Change) bool {
	for _, ch := range changes {
		if ch.KindWide() || q.InCluster(ch.Cluster) && (q.Matches(ch.Old) || q.Matches(ch.New)) {
			return true
		}
	}
	return false
}

func (l *liveQueries) scheduleLocked(key types.NamespacedName, lq *liveQuery, now time.Time) {
	spacing := l.spacing(lq)
	if !lq.due.IsZero() && now.Before(lq.due.Add(spacing)) {
		// Already scheduled and not yet evaluated (track clears due): that evaluation searches
		// after this change was committed, so it sees the change too. The spacing of slack lets
		// a schedule that was lost, say to a failed reconcile, be renewed by later changes.
		return
	}
	delay := requeryDelay(now, lq.evaluated, spacing)
	lq.due = now.Add(delay)
	req := reconcile.Request{NamespacedName: key}
	if delay <= 0 {
		l.queue.Add(req)
		return
	}
	l.queue.AddAfter(req, delay)
}

// requeryDelay says how long to wait before re-evaluating a query that was last evaluated at
// last so that it is evaluated at most once per interval: not at all when the last evaluation is
// at least interval old (the leading edge), otherwise until interval has passed since it.
func requeryDelay(now, last time.Time, interval time.Duration) time.Duration {
	elapsed := now.Sub(last)
	if last.IsZero() || elapsed >= interval || elapsed < 0 {
		return 0
	}
	return interval - elapsed
}
