package searchquery

import (
	"context"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/admission"
)

// clientAs returns a client that impersonates user in groups.
func clientAs(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	return clientWith(t, rest.ImpersonationConfig{UserName: user, Groups: groups})
}

// clientWith returns a client that impersonates as imp says.
func clientWith(t *testing.T, imp rest.ImpersonationConfig) client.Client {
	t.Helper()
	user := imp.UserName
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = imp
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatalf("creating a client for %s: %v", user, err)
	}
	return c
}

// grant creates a Role in ns with rules and binds it to user; the returned function deletes both.
func grant(t *testing.T, ns, name, user string, rules ...rbacv1.PolicyRule) func() {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	return func() {
		for _, o := range []client.Object{binding, role} {
			if err := k8s.Delete(ctx, o); err != nil {
				t.Fatalf("deleting %s: %v", name, err)
			}
		}
	}
}

var (
	writeQueries = rbacv1.PolicyRule{
		APIGroups: []string{searchv1alpha1.GroupVersion.Group},
		Resources: []string{"searchqueries"},
		Verbs:     []string{"create", "get", "update", "patch"},
	}
	listWidgets = rbacv1.PolicyRule{APIGroups: []string{widgetGVK.Group}, Resources: []string{"widgets"}, Verbs: []string{"list"}}
)

// TestAnswersOnlyWhatTheAuthorMayList follows one query through a right granted, revoked and
// granted again. No ResourceIndex publishes the Widget resource here, so admission lets the
// query in and the controller alone decides.
func TestAnswersOnlyWhatTheAuthorMayList(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(t, widget(ns, "w1", nil, 1, "nginx", "True"))
	create(t, widget(ns, "w2", nil, 2, "nginx", "True"))
	defer grant(t, ns, "write-queries", "dana", writeQueries)()
	dana := clientWith(t, rest.ImpersonationConfig{
		UserName: "dana", Groups: []string{"team-d"},
		Extra: map[string][]string{"scopes": {"b", "a\"]"}, "example.com/zone": {"1"}},
	})

	sq := &searchv1alpha1.SearchQuery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "widgets"},
		Spec:       searchv1alpha1.SearchQuerySpec{QuerySpec: searchv1alpha1.QuerySpec{Target: widgetTarget}},
	}
	g.Expect(dana.Create(context.Background(), sq)).To(Succeed())
	g.Expect(sq.Annotations).To(HaveKeyWithValue(searchv1alpha1.AnnotationAuthor, "dana"))
	g.Expect(sq.Annotations).To(HaveKeyWithValue(searchv1alpha1.AnnotationAuthorGroups, `["team-d","system:authenticated"]`))
	g.Expect(sq.Annotations).To(HaveKeyWithValue(searchv1alpha1.AnnotationAuthorExtra, `{"example.com/zone":["1"],"scopes":["b","a\"]"]}`))
	who, err := authorOf(sq.Annotations)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(who.extra).To(Equal(map[string][]string{"scopes": {"b", `a"]`}, "example.com/zone": {"1"}}))

	forbidden := func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonForbidden)(g, st)
		g.Expect(st.Total).To(BeZero())
		g.Expect(st.Results).To(BeEmpty())
	}
	answered := func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded)(g, st)
		g.Expect(resultNames(st, false)).To(Equal([]string{"w1", "w2"}))
	}
	st := eventuallyStatus(t, sq, forbidden)
	g.Expect(st.Conditions).To(ContainElement(HaveField("Message",
		ContainSubstring(`user "dana", who last wrote the spec, may not list widgets.test.kubesift.io in namespace "`+ns+`"`))))

	revoke := grant(t, ns, "list-widgets", "dana", listWidgets)
	eventuallyStatus(t, sq, answered)
	revoke()
	eventuallyStatus(t, sq, forbidden)
	defer grant(t, ns, "list-widgets", "dana", listWidgets)()
	eventuallyStatus(t, sq, answered)

	// A change of metadata by someone else keeps dana as the author, whatever it says.
	cur := &searchv1alpha1.SearchQuery{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(sq), cur)).To(Succeed())
	cur.Annotations[searchv1alpha1.AnnotationAuthor] = "someone-else"
	cur.Labels = map[string]string{"touched": "yes"}
	g.Expect(k8s.Update(context.Background(), cur)).To(Succeed())
	g.Expect(cur.Annotations).To(HaveKeyWithValue(searchv1alpha1.AnnotationAuthor, "dana"))
	g.Expect(cur.Labels).To(HaveKeyWithValue("touched", "yes"))
}

// TestSpecWriterBecomesAuthor checks that whoever changes the spec is the one whose rights count.
func TestSpecWriterBecomesAuthor(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(t, widget(ns, "w1", nil, 1, "nginx", "True"))
	defer grant(t, ns, "write-queries", "erin", writeQueries)()
	sq := newSearchQuery(t, ns, "widgets", searchv1alpha1.QuerySpec{Target: widgetTarget})
	eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))

	erin := clientAs(t, "erin")
	cur := &searchv1alpha1.SearchQuery{}
	g.Expect(erin.Get(context.Background(), client.ObjectKeyFromObject(sq), cur)).To(Succeed())
	cur.Spec.Limit = 7
	g.Expect(erin.Update(context.Background(), cur)).To(Succeed())
	g.Expect(cur.Annotations).To(HaveKeyWithValue(searchv1alpha1.AnnotationAuthor, "erin"))
	eventuallyStatus(t, cur, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(cur, metav1.ConditionFalse, searchv1alpha1.ReasonForbidden)(g, st)
		g.Expect(st.Total).To(BeZero())
		g.Expect(st.Results).To(BeEmpty())
	})
}

// TestNoAuthorIsForbidden checks the safe default for a query that records no author, which is
// what a cluster without the admission policies produces.
func TestNoAuthorIsForbidden(t *testing.T) {
	g := NewWithT(t)
	out, err := queryReconciler.authorize(context.Background(), map[string]string{"unrelated": "x"}, widgetGVK, []string{"default"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).NotTo(BeNil())
	g.Expect(out.reason).To(Equal(searchv1alpha1.ReasonForbidden))
	g.Expect(out.message).To(ContainSubstring("config/admission"))

	st := &searchv1alpha1.QueryStatus{Total: 3, Count: 1, Results: []searchv1alpha1.ResultRef{{Name: "secret-name"}}}
	applyOutcome(st, 1, *out)
	g.Expect(st.Total).To(BeZero())
	g.Expect(st.Results).To(BeEmpty())
}

// TestNothingAnsweredWithoutThePolicies removes the bindings of the author policies, after which
// anyone could write the author annotations, and checks that queries stop being answered, and
// that a query written before stays unanswered after the policies are back, until its spec is
// written again: its record is from another author epoch.
func TestNothingAnsweredWithoutThePolicies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	create(t, widget(ns, "w1", nil, 1, "nginx", "True"))
	sq := newSearchQuery(t, ns, "widgets", searchv1alpha1.QuerySpec{Target: widgetTarget})
	eventuallyStatus(t, sq, readyWith(sq, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))

	bindings := []client.Object{&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}}
	bindings[0].SetName("query-author")
	bindings[1].SetName("query-author-guard")
	restore := func() {
		g.Expect(admission.Install(ctx, k8s, filepath.Join("..", "..", "..", "config", "admission"))).To(Succeed())
		g.Expect(admission.WaitEnforced(ctx, k8s, admission.PlainEpoch, ns)).To(Succeed())
	}
	defer restore()
	for _, b := range bindings {
		g.Expect(k8s.Delete(ctx, b)).To(Succeed())
	}
	st := eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonForbidden)(g, st)
		g.Expect(st.Total).To(BeZero())
		g.Expect(st.Results).To(BeEmpty())
	})
	g.Expect(st.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("there is no author epoch"))))

	restore()
	st = eventuallyStatus(t, sq, func(g Gomega, st *searchv1alpha1.QueryStatus) {
		readyWith(sq, metav1.ConditionFalse, searchv1alpha1.ReasonForbidden)(g, st)
		g.Expect(st.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("another author epoch"))))
	})
	g.Expect(st.Total).To(BeZero())

	cur := &searchv1alpha1.SearchQuery{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sq), cur)).To(Succeed())
	cur.Spec.Limit = 9
	g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	eventuallyStatus(t, cur, readyWith(cur, metav1.ConditionTrue, searchv1alpha1.ReasonSucceeded))
}
