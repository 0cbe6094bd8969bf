package searchquery

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/index"
)

// resultKeys lists "cluster|name" for each result.
func resultKeys(st *searchv1alpha1.QueryStatus) []string {
	out := []string{}
	for _, r := range st.Results {
		out = append(out, r.Cluster+"|"+r.Name)
	}
	return out
}

// TestMemberClusterGrants checks that a query reads a member cluster's objects only when its
// author has the verb search on that MemberCluster, whatever the author may list locally.
func TestMemberClusterGrants(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	create(t, widget(ns, "w1", nil, 1, "nginx", "True"))
	// Objects of the same namespace in two members, as their mirrors would write them.
	var changes []index.Change
	for _, c := range []struct{ cluster, name string }{{"m1", "w1"}, {"m1", "w2"}, {"m2", "w3"}} {
		changes = append(changes, index.Change{Object: widget(ns, c.name, nil, 1, "nginx", "True"), Cluster: c.cluster})
	}
	g.Expect(store.Apply(changes, nil)).To(Succeed())
	for _, name := range []string{"m1", "m2"} {
		mc := &searchv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: searchv1alpha1.MemberClusterSpec{KubeconfigSecretRef: searchv1alpha1.SecretKeyRef{
				Namespace: ns, Name: name + "-kubeconfig"}},
		}
		g.Expect(k8s.Create(ctx, mc)).To(Succeed())
		defer func() { g.Expect(k8s.Delete(ctx, mc)).To(Succeed()) }()
		defer func() {
			_, err := store.DropCluster(widgetGVK, name, nil)
			g.Expect(err).NotTo(HaveOccurred())
		}()
	}
	cat.Publish(catalog.Change{GVK: widgetGVK})

	defer grant(t, ns, "write-queries", "fay", writeQueries)()
	defer grant(t, ns, "list-widgets", "fay", listWidgets)()
	fay := clientAs(t, "fay")
	newQuery := func(name string, clusters ...string) *searchv1alpha1.SearchQuery {
		sq := &searchv1alpha1.SearchQuery{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: searchv1alpha1.SearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{Target: widgetTarget, Clusters: clusters,
				Sort: []searchv1alpha1.SortKey{{Path: "cluster"}, {Path: "metadata.name"}}}},
		}
		g.Expect(fay.Create(ctx, sq)).To(Succeed())
		return sq
	}

	// Without a grant, only the local cluster is read, and the status says what was left out.
	all := newQuery("all")
	eventuallyStatus(t, all, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(all, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultKeys(st)).To(Equal([]string{"|w1"}))
		g.Expect(st.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("MemberClusters m1, m2 are left out"))))
	})

	// The verb search on m1 lets m1's objects in, and only m1's.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "search-m1-" + ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{searchv1alpha1.GroupVersion.Group}, Resources: []string{"memberclusters"},
			ResourceNames: []string{"m1"}, Verbs: []string{searchv1alpha1.VerbSearch}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "fay"}},
	}
	for _, o := range []client.Object{role, binding} {
		g.Expect(k8s.Create(ctx, o)).To(Succeed())
		defer func() { g.Expect(k8s.Delete(ctx, o)).To(Succeed()) }()
	}
	eventuallyStatus(t, all, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(resultKeys(st)).To(Equal([]string{"|w1", "m1|w1", "m1|w2"}))
		g.Expect(st.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("MemberClusters m2 are left out"))))
	})

	// Naming a member without the grant is refused; naming one that does not exist reads nothing.
	m2 := newQuery("m2", "m2")
	eventuallyStatus(t, m2, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(m2, metav1.ConditionFalse, searchv1alpha1.ReasonForbidden)(g, st)
		g.Expect(st.Results).To(BeEmpty())
		g.Expect(st.Conditions).To(ContainElement(HaveField("Message", ContainSubstring(`may not search MemberCluster "m2"`))))
	})
	ghost := newQuery("ghost", "ghost")
	eventuallyStatus(t, ghost, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(ghost, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(st.Total).To(BeZero())
	})
	localAndM1 := newQuery("local-m1", "local", "m1")
	eventuallyStatus(t, localAndM1, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(localAndM1, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultKeys(st)).To(Equal([]string{"|w1", "m1|w1", "m1|w2"}))
	})

	// When the ResourceIndex reports m1's mirror as not Ready, m1's results are marked stale.
	ri := &searchv1alpha1.ResourceIndex{
		ObjectMeta: metav1.ObjectMeta{Name: "test"}, // the index the suite's catalog names for Widgets
		Spec:       searchv1alpha1.ResourceIndexSpec{Target: widgetTarget},
	}
	g.Expect(k8s.Create(ctx, ri)).To(Succeed())
	defer func() { g.Expect(k8s.Delete(ctx, ri)).To(Succeed()) }()
	ri.Status.Clusters = []searchv1alpha1.ClusterIndexStatus{{Name: "m1", Reason: "ClusterNotReady", Message: "down"}}
	g.Expect(k8s.Status().Update(ctx, ri)).To(Succeed())
	eventuallyStatus(t, localAndM1, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		g.Expect(st.Results).To(HaveLen(3))
		for _, r := range st.Results {
			g.Expect(r.Stale).To(Equal(r.Cluster == "m1"), "result %s|%s", r.Cluster, r.Name)
		}
		g.Expect(st.Conditions).To(ContainElement(HaveField("Message",
			ContainSubstring("results from MemberClusters m1 are as last seen"))))
	})

	// spec.stale leaves the stale objects out, or keeps only them; with every cluster (nil) too.
	withStale := func(name string, policy searchv1alpha1.StalePolicy, clusters ...string) *searchv1alpha1.SearchQuery {
		sq := &searchv1alpha1.SearchQuery{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: searchv1alpha1.SearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{Target: widgetTarget, Clusters: clusters,
				Stale: policy, Sort: []searchv1alpha1.SortKey{{Path: "cluster"}, {Path: "metadata.name"}}}},
		}
		g.Expect(fay.Create(ctx, sq)).To(Succeed())
		return sq
	}
	for _, c := range []struct {
		name     string
		policy   searchv1alpha1.StalePolicy
		clusters []string
		want     []string
	}{
		{"fresh", searchv1alpha1.StaleExclude, nil, []string{"|w1"}},
		{"fresh-m1", searchv1alpha1.StaleExclude, []string{"m1"}, []string{}},
		{"only-stale", searchv1alpha1.StaleOnly, nil, []string{"m1|w1", "m1|w2"}},
		{"only-stale-local", searchv1alpha1.StaleOnly, []string{"local"}, []string{}},
	} {
		sq := withStale(c.name, c.policy, c.clusters...)
		eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
			readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
			g.Expect(resultKeys(st)).To(Equal(c.want), c.name)
			g.Expect(st.Total).To(BeEquivalentTo(len(c.want)), c.name)
		})
	}
	// When m1 is Ready again, Exclude keeps its objects and Only keeps nothing.
	ri.Status.Clusters = []searchv1alpha1.ClusterIndexStatus{{Name: "m1", Ready: true, Reason: "Synced"}}
	g.Expect(k8s.Status().Update(ctx, ri)).To(Succeed())
	for name, want := range map[string][]string{"fresh": {"|w1", "m1|w1", "m1|w2"}, "only-stale": {}} {
		sq := &searchv1alpha1.SearchQuery{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
			g.Expect(resultKeys(st)).To(Equal(want), name)
		})
	}
}
