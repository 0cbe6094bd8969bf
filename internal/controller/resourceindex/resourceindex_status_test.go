package resourceindex

import (
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/query"
)

func TestApplyOutcome(t *testing.T) {
	tests := []struct {
		name            string
		outcome         outcome
		wantReady       metav1.ConditionStatus
		wantReconciling bool
		wantStalled     bool
		wantGeneration  int64
		wantCount       int64
	}{
		{"synced", outcome{reason: searchv1alpha1.ReasonSynced, count: 7}, metav1.ConditionTrue, false, false, 3, 7},
		{"syncing", outcome{reason: searchv1alpha1.ReasonSyncing}, metav1.ConditionFalse, true, false, 1, 5},
		{"duplicate", outcome{reason: searchv1alpha1.ReasonDuplicate, stalled: true}, metav1.ConditionFalse, false, true, 1, 5},
		{"not found", outcome{reason: searchv1alpha1.ReasonResourceNotFound}, metav1.ConditionFalse, false, false, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			// Start from a status that has every condition, to see them removed.
			st := searchv1alpha1.ResourceIndexStatus{ObservedGeneration: 1, ObjectCount: 5}
			applyOutcome(&st, 2, outcome{reason: searchv1alpha1.ReasonSyncing})
			applyOutcome(&st, 2, outcome{reason: searchv1alpha1.ReasonInvalidSpec, stalled: true})
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: searchv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "Progressing"})

			applyOutcome(&st, 3, tt.outcome)
			ready := meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(tt.wantReady))
			g.Expect(ready.Reason).To(Equal(tt.outcome.reason))
			g.Expect(ready.ObservedGeneration).To(Equal(int64(3)))
			g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionReconciling) != nil).To(Equal(tt.wantReconciling))
			g.Expect(meta.FindStatusCondition(st.Conditions, searchv1alpha1.ConditionStalled) != nil).To(Equal(tt.wantStalled))
			g.Expect(st.ObservedGeneration).To(Equal(tt.wantGeneration))
			g.Expect(st.ObjectCount).To(Equal(tt.wantCount))
		})
	}
}

func TestApplyOutcomeKeepsTransitionTime(t *testing.T) {
	g := NewWithT(t)
	st := searchv1alpha1.ResourceIndexStatus{}
	applyOutcome(&st, 1, outcome{reason: searchv1alpha1.ReasonSynced, count: 1})
	past := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	st.Conditions[0].LastTransitionTime = past
	applyOutcome(&st, 1, outcome{reason: searchv1alpha1.ReasonSynced, count: 2})
	g.Expect(st.Conditions[0].LastTransitionTime).To(Equal(past))
	g.Expect(st.ObjectCount).To(Equal(int64(2)))
}

func TestOldest(t *testing.T) {
	at := func(name string, sec int64) searchv1alpha1.ResourceIndex {
		return searchv1alpha1.ResourceIndex{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(sec, 0)}}
	}
	tests := []struct {
		name  string
		items []searchv1alpha1.ResourceIndex
		want  string
	}{
		{"none", nil, ""},
		{"one", []searchv1alpha1.ResourceIndex{at("a", 5)}, "a"},
		{"older wins", []searchv1alpha1.ResourceIndex{at("a", 5), at("b", 4)}, "b"},
		{"same second, name decides", []searchv1alpha1.ResourceIndex{at("zeta", 4), at("alpha", 4), at("mid", 9)}, "alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oldest(tt.items)
			if tt.want == "" {
				NewWithT(t).Expect(got).To(BeNil())
				return
			}
			NewWithT(t).Expect(got.Name).To(Equal(tt.want))
		})
	}
}

func TestCRDGroup(t *testing.T) {
	g := NewWithT(t)
	g.Expect(crdGroup("templates.apps.example.com")).To(Equal("apps.example.com"))
	g.Expect(crdGroup("certificates.cert-manager.io")).To(Equal("cert-manager.io"))
	g.Expect(crdGroup("nodot")).To(Equal(""))
}

func TestMessages(t *testing.T) {
	g := NewWithT(t)
	gvr := schema.GroupVersionResource{Group: "apps.example.com", Version: "v1alpha1", Resource: "templates"}
	err := forbiddenError(gvr, []string{"list", "watch"}, nil)
	g.Expect(err.reason).To(Equal(searchv1alpha1.ReasonForbidden))
	g.Expect(err.Error()).To(And(
		ContainSubstring("list and watch templates.apps.example.com"),
		ContainSubstring(`resource "templates" of API group apps.example.com`),
		ContainSubstring(`search.kubesift.io/aggregate-to-indexer: "true"`),
	))
	core := forbiddenError(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, []string{"list"}, nil)
	g.Expect(core.Error()).To(ContainSubstring(`resource "secrets" of API group ""`))

	nf := notFoundError(schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}, errors.New("no match"))
	g.Expect(nf.reason).To(Equal(searchv1alpha1.ReasonResourceNotFound))
	g.Expect(nf.msg).To(Equal("The API server does not serve kind Template in apps.example.com/v1alpha1; install its CustomResourceDefinition"))
	g.Expect(errors.Unwrap(nf)).To(MatchError("no match"))

	qe := &query.Error{Field: "fields[1]", Reason: query.ErrInvalidPath, Msg: "bad"}
	g.Expect(invalidSpecMessage(fmt.Errorf("wrapped: %w", qe))).To(Equal("spec.fields[1]: bad"))
	g.Expect(invalidSpecMessage(errors.New("odd"))).To(Equal("spec.fields: odd"))

}
