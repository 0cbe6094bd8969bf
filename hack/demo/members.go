package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controlplane"
	"github.com/kubesift/kubesift/internal/sample"
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
	if err := d.cluster.show(ctx, "get", "memberclusters", "-o", "wide"); err != nil {
		return cp, err
	}
	return cp, d.acrossClusters(ctx, cp)
}

// memberTemplates is how many Templates the demo creates in the member.
const memberTemplates = 200

// acrossClusters creates Templates in the member, lets the Templates ResourceIndex select the
// member, and answers a query over both clusters.
func (d *demo) acrossClusters(ctx context.Context, cp *controlplane.ControlPlane) error {
	title("9. One query over both clusters")
	member := &cluster{cp: cp, kubeconfig: cp.Kubeconfig(), kubectlBin: d.cluster.kubectlBin}
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 200, 400
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	member.dyn = dyn
	fmt.Printf("$ kubectl --kubeconfig %s apply -f config/samples/crds/apps.example.com_templates.yaml\n", cp.Kubeconfig())
	crd := filepath.Join(d.root, "config", "samples", "crds", "apps.example.com_templates.yaml")
	if _, err := member.kubectl(ctx, "", "apply", "-f", crd); err != nil {
		return err
	}
	if _, err := member.kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=60s", "-f", crd); err != nil {
		return err
	}
	ns := d.queryNamespace()
	if _, err := member.kubectl(ctx, "", "create", "namespace", ns); err != nil {
		return err
	}
	// Other objects than the first cluster's: another seed, in one namespace.
	gen := sample.Generator{Namespaces: 1, Seed: 2, Created: time.Now().Add(-7 * 24 * time.Hour)}
	m := &demo{cluster: member}
	for i := range memberTemplates {
		if err := m.createTemplate(ctx, gen.Template(i)); err != nil {
			return fmt.Errorf("in the member: %w", err)
		}
	}
	fmt.Printf("Created %d Template objects in the member's namespace %s.\n", memberTemplates, ns)

	patch := `{"metadata":{"labels":{"fleet":"demo"}}}`
	fmt.Printf("$ kubectl label membercluster %s fleet=demo\n", memberName)
	if _, err := d.cluster.dyn.Resource(mcGVR).Patch(ctx, memberName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return err
	}
	selector := `{"spec":{"clusters":{"selector":{"matchLabels":{"fleet":"demo"}}}}}`
	fmt.Printf("$ kubectl patch resourceindex templates --type=merge -p '%s'\n", selector)
	ris := d.cluster.dyn.Resource(riGVR)
	if _, err := ris.Patch(ctx, "templates", types.MergePatchType, []byte(selector), metav1.PatchOptions{}); err != nil {
		return err
	}
	var state string
	err = poll(ctx, 2*time.Minute, func() (bool, error) {
		ri, err := d.cluster.dyn.Resource(riGVR).Get(ctx, "templates", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		clusters, _, _ := unstructured.NestedSlice(ri.Object, "status", "clusters")
		for _, c := range clusters {
			if e, ok := c.(map[string]any); ok && e["name"] == memberName {
				state = fmt.Sprintf("%v (%v objects)", e["reason"], e["objectCount"])
				// status.objectCount counts both clusters once the member's count is in.
				all, _, _ := unstructured.NestedInt64(ri.Object, "status", "objectCount")
				return e["reason"] == searchv1alpha1.ReasonSynced && all == int64(d.opts.objects+memberTemplates), nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the Templates ResourceIndex to mirror %s (last: %s): %w", memberName, state, err)
	}
	if err := d.cluster.show(ctx, "get", "resourceindex", "templates",
		"-o", "custom-columns=NAME:.metadata.name,CLUSTERS:.status.clusters[*].name,STATE:.status.clusters[*].reason,"+
			"MEMBER OBJECTS:.status.clusters[*].objectCount,ALL OBJECTS:.status.objectCount"); err != nil {
		return err
	}

	const sampleFile = "config/samples/search_v1alpha1_clustersearchquery_fleet_current.yaml"
	if err := d.applyFile(ctx, "", sampleFile); err != nil {
		return err
	}
	q, err := d.waitQuery(ctx, csqGVR, "", "fleet-not-ready-current")
	if err != nil {
		return err
	}
	total, _, _ := unstructured.NestedInt64(q.Object, "status", "total")

	// The same question with spec.clusters naming the member: its share of the answer.
	fmt.Printf("\nThe same query with spec.clusters: [%s]:\n", memberName)
	q.SetName("fleet-not-ready-member")
	q.SetResourceVersion("")
	q.SetUID("")
	q.SetCreationTimestamp(metav1.Time{})
	q.SetGeneration(0)
	q.SetManagedFields(nil)
	q.SetAnnotations(nil)
	delete(q.Object, "status")
	if err := unstructured.SetNestedStringSlice(q.Object, []string{memberName}, "spec", "clusters"); err != nil {
		return err
	}
	if _, err := d.cluster.dyn.Resource(csqGVR).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating ClusterSearchQuery fleet-not-ready-member: %w", err)
	}
	m2, err := d.waitQuery(ctx, csqGVR, "", "fleet-not-ready-member")
	if err != nil {
		return err
	}
	inMember, _, _ := unstructured.NestedInt64(m2.Object, "status", "total")
	fmt.Printf("Templates that are not Ready, in both clusters: %d = %d in the local cluster + %d in %s.\n",
		total, total-inMember, inMember, memberName)
	fmt.Println("The first results from the member, each with its cluster:")
	return d.cluster.show(ctx, "get", "clustersearchquery", "fleet-not-ready-member", "-o",
		`jsonpath={range .status.results[:3]}{"  "}{.cluster}{"\t"}{.namespace}/{.name}{"\n"}{end}`)
}
