package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controlplane"
)

var mcGVR = schema.GroupVersionResource{Group: "search.kubesift.io", Version: "v1alpha1", Resource: "memberclusters"}

// memberName is the second cluster's name in kubesift.
const memberName = "demo-member"

// member starts a second local control plane and connects it as a MemberCluster: its kubeconfig
// goes into a Secret in the first cluster, as Cluster API keeps its kubeconfig Secrets. It
// returns the member, which the caller stops; nil when the demo runs without local binaries.
func (d *demo) member(ctx context.Context) (*controlplane.ControlPlane, error) {
	title("8. A second cluster: MemberCluster")
	if d.cluster.cp == nil {
		fmt.Println("Skipped: the demo connects a second local control plane only when it runs its own.")
		return nil, nil
	}
	fmt.Println("Starting a second etcd and kube-apiserver, the member ...")
	began := time.Now()
	cp, err := controlplane.Start(context.WithoutCancel(ctx), controlplane.Options{NoControllerManager: true})
	if err != nil {
		return nil, fmt.Errorf("starting the member control plane: %w", err)
	}
	fmt.Printf("Member ready at %s in %s.\n", cp.URL(), time.Since(began).Round(100*time.Millisecond))

	fmt.Printf("$ kubectl create namespace fleet\n")
	if _, err := d.cluster.kubectl(ctx, "", "create", "namespace", "fleet"); err != nil {
		return cp, err
	}
	fmt.Printf("$ kubectl -n fleet create secret generic %s-kubeconfig --from-file=value=%s\n", memberName, cp.Kubeconfig())
	if _, err := d.cluster.kubectl(ctx, "", "-n", "fleet", "create", "secret", "generic", memberName+"-kubeconfig",
		"--from-file=value="+cp.Kubeconfig()); err != nil {
		return cp, err
	}
	manifest := fmt.Sprintf(`apiVersion: search.kubesift.io/v1alpha1
kind: MemberCluster
metadata:
  name: %[1]s
spec:
  displayName: The demo's second control plane
  kubeconfigSecretRef:
    namespace: fleet
    name: %[1]s-kubeconfig
`, memberName)
	fmt.Printf("$ kubectl apply -f - <<EOF\n%sEOF\n", manifest)
	if err := d.apply(ctx, manifest); err != nil {
		return cp, err
	}
	var reason, message string
	err = poll(ctx, time.Minute, func() (bool, error) {
		mc, err := d.cluster.dyn.Resource(mcGVR).Get(ctx, memberName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		reason, message = conditionMessage(mc)
		return reason == searchv1alpha1.ReasonConnected, nil
	})
	if err != nil {
		return cp, errors.Join(fmt.Errorf("waiting for MemberCluster %s to become Ready (last: %s %s)", memberName, reason,
			strings.TrimSpace(message)), err)
	}
	fmt.Printf("MemberCluster %s is Ready: %s.\n", memberName, message)
	return cp, d.cluster.show(ctx, "get", "memberclusters", "-o", "wide")
}
