package membercluster

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// TestSecretWatchesShared checks that MemberClusters sharing a Secret share its watch, that each
// is told of its changes, and that the watch stops with the last one that references it.
func TestSecretWatchesShared(t *testing.T) {
	needControlPlane(t)
	g := NewWithT(t)
	cs, err := kubernetes.NewForConfig(hubAdmin)
	g.Expect(err).NotTo(HaveOccurred())

	var mu sync.Mutex
	seen := map[string]int{}
	w := newSecretWatches(cs, func(member string) {
		mu.Lock()
		defer mu.Unlock()
		seen[member]++
	})
	defer w.stopAll()
	count := func(m string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[m]
	}

	shared := types.NamespacedName{Namespace: fleetNamespace, Name: "shared-kubeconfig"}
	other := types.NamespacedName{Namespace: fleetNamespace, Name: "other-kubeconfig"}
	ctx := context.Background()
	w.watch(ctx, "one", shared)
	w.watch(ctx, "two", shared)
	g.Expect(w.watches).To(HaveLen(1))
	g.Expect(w.membersOf(shared)).To(Equal([]string{"one", "two"}))

	newSecret(t, shared.Name, map[string][]byte{"value": []byte("v1")}, false)
	g.Eventually(func() []int { return []int{count("one"), count("two")} }).
		WithTimeout(30 * time.Second).Should(HaveEach(BeNumerically(">=", 1)))

	// "two" moves to another Secret: the shared watch stays for "one".
	w.watch(ctx, "two", other)
	g.Expect(w.membersOf(shared)).To(Equal([]string{"one"}))
	g.Expect(w.membersOf(other)).To(Equal([]string{"two"}))
	before := count("two")
	setSecret(t, shared.Name, map[string][]byte{"value": []byte("v2")})
	g.Eventually(func() int { return count("one") }).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 2))
	g.Consistently(func() int { return count("two") }).WithTimeout(time.Second).Should(Equal(before))

	w.forget("one")
	w.forget("two")
	g.Expect(w.watches).To(BeEmpty())
	g.Expect(w.refs).To(BeEmpty())
}
