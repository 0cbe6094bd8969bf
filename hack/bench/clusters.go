package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/sample"
)

// maxClusters bounds -clusters: each cluster of the initial sync is an etcd and a kube-apiserver
// on this machine.
const maxClusters = 10

// The hub keeps the members' kubeconfig Secrets in fleetNamespace, and the benchmark's
// ResourceIndex selects the MemberClusters labelled fleetLabel=fleetLabelValue.
const (
	fleetNamespace              = "kubesift-bench-fleet"
	fleetLabel, fleetLabelValue = "bench.kubesift.io/fleet", "true"
)

// checkClusters validates -clusters against the object counts of the run.
func checkClusters(k int, sizes []int) error {
	switch {
	case k < 1 || k > maxClusters:
		return fmt.Errorf("-clusters: %d is not between 1 and %d", k, maxClusters)
	case k > 1 && len(sizes) > 1:
		return fmt.Errorf("-clusters %d measures one object count per run; -n gives %d", k, len(sizes))
	case k > 1 && sizes[0] < k:
		return fmt.Errorf("-clusters %d needs at least one object per cluster; -n gives %d", k, sizes[0])
	}
	return nil
}

// clusterOf is the cluster, among k, of the generator's object i: round robin, so that every
// cluster holds N/k objects of every namespace.
func clusterOf(i, k int) int { return i % k }

// clusterName is the name of cluster c in the index and in MemberCluster objects: "" (the local
// cluster, the hub) for 0, member-<c> for the others.
func clusterName(c int) string {
	if c == 0 {
		return ""
	}
	return fmt.Sprintf("member-%d", c)
}

// clusterTitle names cluster c in messages.
func clusterTitle(c int) string {
	if c == 0 {
		return "the hub"
	}
	return clusterName(c)
}

// clusterCounts returns the number of objects of each of k clusters among the first n.
func clusterCounts(n, k int) []int {
	out := make([]int, k)
	for i := range n {
		out[clusterOf(i, k)]++
	}
	return out
}

// templateCluster is the cluster, among k, of a listed object: its name ends with the
// generator's index ("<app>-<i>", see sample.Generator.Template).
func templateCluster(u *unstructured.Unstructured, k int) (int, error) {
	name := u.GetName()
	i, err := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	if err != nil || i < 0 {
		return 0, fmt.Errorf("%s/%s is not a sample object: its name does not end with its index", u.GetNamespace(), name)
	}
	return clusterOf(i, k), nil
}

// measureClusterQueries loads objs, the LIST that single (the single-cluster index) was loaded
// from, into one in-process index, each object written for its cluster, and measures each of qs
// over every cluster (no cluster restriction), in turn with the same query over single (see
// measurePair). Each answer must be single's in results, which holds the results of qs in
// order: the objects are the same, namespace and name identify each of them, and the tiebreaker
// after a sort's keys is the uid, which the LIST gave both.
func measureClusterQueries(ctx context.Context, o options, single *index.Store, objs []unstructured.Unstructured,
	qs []benchQuery, results []QueryResult) (*ClustersResult, error) {
	k := o.clusters
	logf("[N=%d] Query latency over %d clusters: the same objects in one in-process index, each written for its cluster,"+
		" measured in turn with the single-cluster index", len(objs), k)
	store, objects, err := loadClusterIndex(ctx, objs, k)
	if err != nil {
		return nil, err
	}
	defer func() { _ = store.Close() }()

	res := &ClustersResult{Clusters: k, Objects: objects}
	against := fmt.Sprintf("the index of %d clusters", k)
	for i, q := range qs {
		one := results[i]
		if one.Name != q.name {
			return nil, fmt.Errorf("query %s has the single-cluster results of %s", q.name, one.Name)
		}
		compiled, err := query.Compile(q.spec)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.name, err)
		}
		token, page, err := walkTo(ctx, store, compiled, one.Page)
		if err != nil {
			return nil, fmt.Errorf("query %s over %d clusters: walking to page %d: %w", q.name, k, one.Page, err)
		}
		if page != one.Page {
			return nil, &disagreement{q.name, against, fmt.Sprintf("its last page is %d, kubesift has page %d", page, one.Page)}
		}
		singleToken, _, err := walkTo(ctx, single, compiled, one.Page)
		if err != nil {
			return nil, fmt.Errorf("query %s over one cluster: walking to page %d: %w", q.name, one.Page, err)
		}
		oneLat, lat, got, err := measurePair(ctx, o.queryBudget, 1000,
			searchAnswer(single, compiled, singleToken), searchAnswer(store, compiled, token))
		if err != nil {
			return nil, fmt.Errorf("query %s over one and %d clusters: %w", q.name, k, err)
		}
		if err := compareAnswers(q.name, "the single-cluster index", one.want, got[0]); err != nil {
			return nil, err
		}
		if err := compareAnswers(q.name, against, one.want, got[1]); err != nil {
			return nil, err
		}
		res.Queries = append(res.Queries, ClusterQueryResult{Name: q.name, Total: got[1].total, Page: page, Kubesift: lat,
			OneCluster: &oneLat})
		logf("  %-17s total %6d  one cluster %9.3f ms  %d clusters %9.3f ms (%.2fx)  [medians, in turn]",
			q.name, got[1].total, oneLat.Median, k, lat.Median, lat.Median/oneLat.Median)
	}
	return res, nil
}

// loadClusterIndex fills an in-memory index with objs as loadIndex does, each object written
// for its cluster among k: one Replace per cluster, as each cluster's mirror loads its initial
// list. It returns the number of objects of each cluster, checked against the index's counts.
func loadClusterIndex(ctx context.Context, objs []unstructured.Unstructured, k int) (*index.Store, []int, error) {
	start := time.Now()
	lists := make([][]*unstructured.Unstructured, k)
	for i := range objs {
		c, err := templateCluster(&objs[i], k)
		if err != nil {
			return nil, nil, err
		}
		objs[i].SetManagedFields(nil)
		lists[c] = append(lists[c], &objs[i])
	}
	store, err := openIndex()
	if err != nil {
		return nil, nil, err
	}
	counts := make([]int, k)
	for c, list := range lists {
		counts[c] = len(list)
		err := store.ReplaceIn(sample.TemplateGVK, clusterName(c), list)
		var got int64
		if err == nil {
			got, err = store.CountIn(ctx, sample.TemplateGVK, clusterName(c))
		}
		if err == nil && got != int64(len(list)) {
			err = fmt.Errorf("the index counts %d objects, want %d", got, len(list))
		}
		if err != nil {
			_ = store.Close()
			return nil, nil, fmt.Errorf("loading the objects of %s into the index: %w", clusterTitle(c), err)
		}
	}
	logf("  in-process index loaded with %d objects of %d clusters (%s) in %s", len(objs), k,
		countList(counts), time.Since(start).Round(time.Millisecond))
	return store, counts, nil
}

// measureClusterSync starts a hub and o.clusters-1 member control planes, loads the generator's
// first n objects spread over them as clusterOf says, connects the members to the hub with
// MemberCluster objects and measures a ResourceIndex that selects them until it is Ready with
// every member Synced and every cluster's objects counted. The control planes and the manager
// are stopped on return.
func measureClusterSync(ctx context.Context, o options, n int) (res *ClusterSyncResult, err error) {
	k := o.clusters
	logf("[N=%d] Initial sync over %d clusters: a hub and %d members, then a ResourceIndex that selects the members", n, k, k-1)
	var cs []*cluster
	defer func() {
		for _, c := range cs {
			if err != nil {
				keepLogs(c.cp.Dir())
			}
			c.stop()
		}
	}()
	for range k {
		c, err := startCluster(ctx, o)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	res = &ClusterSyncResult{}
	if res.Load, err = loadSpread(ctx, cs, o, 0, n); err != nil {
		return nil, err
	}
	want := clusterCounts(n, k)
	if res.ListSamples, res.ListSeconds, err = listClusters(ctx, cs, want); err != nil {
		return nil, err
	}

	hub := cs[0]
	if err := connectMembers(ctx, hub, cs[1:]); err != nil {
		return nil, err
	}
	mgr, err := startManager(ctx, hub, o, "", "")
	if err != nil {
		return nil, err
	}
	defer mgr.stop()
	if err := waitMembersReady(ctx, hub, k-1, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("%w; see %s", err, mgr.logPath)
	}
	// Let the manager settle after its start, as measureSync does.
	time.Sleep(3 * time.Second)
	idle, err := mgr.scrape(ctx)
	if err != nil {
		return nil, err
	}

	w, err := hub.kube.Watch(ctx, &searchv1alpha1.ResourceIndexList{})
	if err != nil {
		return nil, fmt.Errorf("watching ResourceIndex objects: %w", err)
	}
	defer w.Stop()
	ri := benchResourceIndex(&searchv1alpha1.ClusterSelection{
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{fleetLabel: fleetLabelValue}},
	})
	peak := samplePeak(ctx, mgr)
	start := time.Now()
	if err := hub.kube.Create(ctx, ri); err != nil {
		peak.stop()
		return nil, fmt.Errorf("creating the ResourceIndex: %w", err)
	}
	err = waitClustersSynced(ctx, w, want, 10*time.Minute)
	res.ResourceIndexSeconds = time.Since(start).Seconds()
	res.PeakRSSBytes, res.PeakHeapBytes = peak.stop()
	if err != nil {
		return nil, fmt.Errorf("waiting for the ResourceIndex over %d clusters: %w; see %s", k, err, mgr.logPath)
	}
	synced, err := mgr.scrape(ctx)
	if err != nil {
		return nil, err
	}
	res.CPUSeconds = synced.get("process_cpu_seconds_total") - idle.get("process_cpu_seconds_total")
	logf("  ResourceIndex Ready with every member Synced after %.2fs (%.2fx the LISTs), manager CPU %.2fs, peak RSS %s",
		res.ResourceIndexSeconds, res.ResourceIndexSeconds/res.ListSeconds, res.CPUSeconds, bytesIEC(res.PeakRSSBytes))
	return res, nil
}

// listClusters lists every cluster's objects in pages at the same time, three times, checks the
// counts against want and returns the times and their median.
func listClusters(ctx context.Context, cs []*cluster, want []int) ([]float64, float64, error) {
	var samples []float64
	for range 3 {
		start := time.Now()
		errs := make([]error, len(cs))
		var wg sync.WaitGroup
		for c := range cs {
			wg.Go(func() {
				got, err := paginatedList(ctx, cs[c])
				if err == nil && got != want[c] {
					err = fmt.Errorf("the paginated LIST of %s returned %d objects, want %d", clusterTitle(c), got, want[c])
				}
				errs[c] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, 0, err
		}
		samples = append(samples, time.Since(start).Seconds())
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	logf("  paginated LISTs of the %d clusters at the same time (%s objects, pages of %d): %.2fs median of %d",
		len(cs), countList(want), listPageSize, s[len(s)/2], len(s))
	return samples, s[len(s)/2], nil
}

// connectMembers puts each member's admin kubeconfig in a Secret on the hub and creates a
// MemberCluster for it, labelled for the benchmark's ResourceIndex.
func connectMembers(ctx context.Context, hub *cluster, members []*cluster) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}
	if err := hub.kube.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
	}
	for i, m := range members {
		name := clusterName(i + 1)
		kubeconfig, err := os.ReadFile(m.cp.Kubeconfig())
		if err != nil {
			return fmt.Errorf("reading the kubeconfig of %s: %w", name, err)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetNamespace, Name: name + "-kubeconfig"},
			Data:       map[string][]byte{searchv1alpha1.DefaultKubeconfigKey: kubeconfig},
		}
		if err := hub.kube.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating Secret %s: %w", client.ObjectKeyFromObject(secret), err)
		}
		mc := &searchv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{fleetLabel: fleetLabelValue}},
			Spec: searchv1alpha1.MemberClusterSpec{KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{
				Namespace: fleetNamespace, Name: secret.Name, Key: searchv1alpha1.DefaultKubeconfigKey,
			}},
		}
		if err := hub.kube.Create(ctx, mc); err != nil {
			return fmt.Errorf("creating MemberCluster %s: %w", name, err)
		}
	}
	return nil
}

// waitMembersReady waits until the hub has members MemberCluster objects of the benchmark, each
// Ready=True: the manager is connected to them.
func waitMembersReady(ctx context.Context, hub *cluster, members int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list searchv1alpha1.MemberClusterList
		if err := hub.kube.List(ctx, &list, client.MatchingLabels{fleetLabel: fleetLabelValue}); err != nil {
			return fmt.Errorf("listing MemberCluster objects: %w", err)
		}
		var waiting []string
		for _, mc := range list.Items {
			c := meta.FindStatusCondition(mc.Status.Conditions, searchv1alpha1.ConditionReady)
			switch {
			case c == nil:
				waiting = append(waiting, mc.Name+" (no Ready condition)")
			case c.Status != metav1.ConditionTrue:
				waiting = append(waiting, fmt.Sprintf("%s (%s: %s)", mc.Name, c.Reason, c.Message))
			}
		}
		if len(list.Items) == members && len(waiting) == 0 {
			logf("  %d MemberClusters Ready", members)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %d MemberClusters were not all Ready within %s (%d listed): %s", members, timeout,
				len(list.Items), strings.Join(waiting, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitClustersSynced waits for a watch event showing the benchmark's ResourceIndex synced in
// every cluster with the counts of want (see clustersSynced).
func waitClustersSynced(ctx context.Context, w watch.Interface, want []int, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	last := "none seen"
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("not synced within %s; last status: %s", timeout, last)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("the watch ended; last status: %s", last)
			}
			ri, ok := ev.Object.(*searchv1alpha1.ResourceIndex)
			if !ok || ri.Name != resourceIndexName {
				continue
			}
			var done bool
			if done, last = clustersSynced(ri, want); done {
				return nil
			}
		}
	}
}

// clustersSynced reports whether ri is Ready for its generation with objectCount the sum of
// want and each member's entry in status.clusters Synced with objectCount want[c], which
// leaves want[0] for the local cluster; it also describes that state.
func clustersSynced(ri *searchv1alpha1.ResourceIndex, want []int) (bool, string) {
	total := 0
	for _, n := range want {
		total += n
	}
	st := ri.Status
	ready := st.ObservedGeneration == ri.Generation && meta.IsStatusConditionTrue(st.Conditions, searchv1alpha1.ConditionReady)
	done := ready && st.ObjectCount == int64(total) && len(st.Clusters) == len(want)-1
	parts := []string{fmt.Sprintf("Ready %t, objectCount %d of %d", ready, st.ObjectCount, total)}
	for c := 1; c < len(want); c++ {
		name := clusterName(c)
		i := slices.IndexFunc(st.Clusters, func(s searchv1alpha1.ClusterIndexStatus) bool { return s.Name == name })
		if i < 0 {
			done = false
			parts = append(parts, name+" absent")
			continue
		}
		s := st.Clusters[i]
		done = done && s.Ready && s.Reason == searchv1alpha1.ReasonSynced && s.ObjectCount == int64(want[c])
		parts = append(parts, fmt.Sprintf("%s %s with %d of %d", name, s.Reason, s.ObjectCount, want[c]))
	}
	return done, strings.Join(parts, ", ")
}

// countList formats per-cluster object counts, the hub's first: "500 + 500 + 500".
func countList(counts []int) string {
	parts := make([]string, len(counts))
	for i, n := range counts {
		parts[i] = count(n)
	}
	return strings.Join(parts, " + ")
}
