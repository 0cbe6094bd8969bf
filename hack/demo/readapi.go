package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// readAPINamespace holds the read API's Service and its generated certificate.
	readAPINamespace = "kubesift-system"
	readAPIService   = "v1alpha1.query.kubesift.io"
	// readAPIPrefix is where the read API serves the mirrored kinds the Kubernetes way.
	readAPIPrefix = "/apis/query.kubesift.io/v1alpha1/resources"
)

var (
	searchGVR        = schema.GroupVersionResource{Group: "query.kubesift.io", Version: "v1alpha1", Resource: "searches"}
	clusterSearchGVR = schema.GroupVersionResource{Group: "query.kubesift.io", Version: "v1alpha1", Resource: "clustersearches"}
)

// registerReadAPI makes the cluster's API server route query.kubesift.io to a manager on this
// machine listening on port: an ExternalName Service for localhost and the APIService, as
// docs/read-api.md describes for a manager outside the cluster. The manager writes the
// APIService's caBundle when it starts.
func (d *demo) registerReadAPI(ctx context.Context, port string) error {
	if _, err := d.cluster.kubectl(ctx, "", "get", "namespace", readAPINamespace); err != nil {
		if _, err := d.cluster.kubectl(ctx, "", "create", "namespace", readAPINamespace); err != nil {
			return err
		}
	}
	return d.apply(ctx, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: kubesift-read-api, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{port: %[2]s}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: %[3]s}
spec:
  group: query.kubesift.io
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {name: kubesift-read-api, namespace: %[1]s, port: %[2]s}
`, readAPINamespace, port, readAPIService))
}

// waitReadAPI waits until the API server routes the read API to the manager.
func (d *demo) waitReadAPI(ctx context.Context) error {
	_, err := d.cluster.kubectl(ctx, "", "wait", "--for=condition=Available", "--timeout=90s", "apiservice/"+readAPIService)
	return err
}

// search answers the spec of a SearchQuery (ClusterSearchQuery when q has no namespace) through
// the read API, with the matching objects in the response: one request, nothing stored.
func (d *demo) search(ctx context.Context, q *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	spec, _, _ := unstructured.NestedMap(q.Object, "spec")
	spec["output"] = "Objects"
	s := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	s.SetAPIVersion(searchGVR.GroupVersion().String())
	if q.GetNamespace() == "" {
		s.SetKind("ClusterSearch")
		return d.cluster.dyn.Resource(clusterSearchGVR).Create(ctx, s, metav1.CreateOptions{})
	}
	s.SetKind("Search")
	s.SetNamespace(q.GetNamespace())
	return d.cluster.dyn.Resource(searchGVR).Namespace(q.GetNamespace()).Create(ctx, s, metav1.CreateOptions{})
}

// printResults prints the first results of a query with a few fields of each object. The objects
// come from the read API, in one Search with the query's spec, not from a GET per object.
func (d *demo) printResults(ctx context.Context, q *unstructured.Unstructured, max int) error {
	total, _, _ := unstructured.NestedInt64(q.Object, "status", "total")
	if !d.readAPI {
		results, _, _ := unstructured.NestedSlice(q.Object, "status", "results")
		fmt.Printf("%s: %d matches; the first %d (the objects are shown with the read API, on the local control plane):\n",
			q.GetName(), total, min(max, len(results)))
		for i, r := range results {
			if i == max {
				break
			}
			m, _ := r.(map[string]any)
			fmt.Printf("  %v/%v\n", m["namespace"], m["name"])
		}
		return nil
	}
	answer, err := d.search(ctx, q)
	if err != nil {
		return fmt.Errorf("asking the read API for the objects of %s: %w", q.GetName(), err)
	}
	objects, _, _ := unstructured.NestedSlice(answer.Object, "status", "objects")
	fmt.Printf("%s: %d matches; the first %d, read in one Search from the read API:\n", q.GetName(), total, min(max, len(objects)))
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAMESPACE\tNAME\tREPLICAS\tTIER\tTEAM\tREADY\tCREATED")
	for i, o := range objects {
		if i == max {
			break
		}
		m, _ := o.(map[string]any)
		obj := &unstructured.Unstructured{Object: m}
		replicas, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
		ready, _ := condition(obj, "Ready")
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", obj.GetNamespace(), obj.GetName(), replicas, obj.GetLabels()["tier"],
			obj.GetLabels()["app.kubernetes.io/part-of"], ready, obj.GetCreationTimestamp().UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// askIndex shows the two other ways into the index: plain kubectl against the read API's prefix,
// and the kubectl sift plugin.
func (d *demo) askIndex(ctx context.Context) error {
	title("8. Ask the index directly: the read API")
	ns := d.queryNamespace()
	server := strings.TrimSuffix(d.cluster.config.Host, "/") + readAPIPrefix
	fmt.Printf("kubectl reads from the index when its server URL ends in %s:\n", readAPIPrefix)
	fmt.Printf("  SERVER=%s\n", d.cluster.config.Host)
	if err := d.showAt(ctx, server, "$SERVER"+readAPIPrefix, "get", "templates", "-n", ns, "-l", "tier=frontend",
		"--field-selector", "spec.replicas>=11,spec.team in (payments,checkout)"); err != nil {
		return err
	}
	if err := d.showAt(ctx, server, "$SERVER"+readAPIPrefix, "get", "templates", "-A", "--chunk-size=50",
		"--field-selector", "status.conditions[type=Ready].status=False", "-o", "name"); err != nil {
		return err
	}

	fmt.Println("\nkubectl sift sends a Search and prints a page, with the token of the next one:")
	out, err := d.sift(ctx, "templates", "-n", ns, "-l", "tier=frontend", "--where", "spec.replicas>=5",
		"--sort=-spec.replicas", "--limit", "5")
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(last) > 1 && last[len(last)-2] == "--continue" {
		_, err = d.sift(ctx, "templates", "-n", ns, "-l", "tier=frontend", "--where", "spec.replicas>=5",
			"--sort=-spec.replicas", "--limit", "5", "--continue", last[len(last)-1])
	}
	return err
}

// showAt is show with kubectl's server set to server, printed as shown.
func (d *demo) showAt(ctx context.Context, server, shown string, args ...string) error {
	fmt.Printf("\n$ kubectl --server=%s %s\n", shown, quoteArgs(args))
	out, err := d.cluster.kubectl(ctx, "", append([]string{"--server=" + server}, args...)...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 12 {
		lines = append(lines[:12], fmt.Sprintf("… %d more lines", len(lines)-12))
	}
	fmt.Println(strings.Join(lines, "\n"))
	return err
}

// sift runs the kubectl sift plugin built next to the manager, and prints the command and its
// output.
func (d *demo) sift(ctx context.Context, args ...string) (string, error) {
	fmt.Printf("\n$ kubectl sift %s\n", quoteArgs(args))
	bin := filepath.Join(filepath.Dir(d.opts.manager), "kubectl-sift")
	if d.cluster.kubeconfig != "" {
		args = append([]string{"--kubeconfig=" + d.cluster.kubeconfig}, args...)
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return "", fmt.Errorf("kubectl sift: %w", err)
	}
	return string(out), nil
}

// quoteArgs joins args as a shell would need them.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " ()><[]*") {
			out[i] = "'" + a + "'"
		}
	}
	return strings.Join(out, " ")
}
