package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/sample"
)

var (
	templatesGVR = schema.GroupVersionResource{Group: "apps.example.com", Version: "v1alpha1", Resource: "templates"}
	riGVR        = schema.GroupVersionResource{Group: "search.kubesift.io", Version: "v1alpha1", Resource: "resourceindices"}
	sqGVR        = schema.GroupVersionResource{Group: "search.kubesift.io", Version: "v1alpha1", Resource: "searchqueries"}
	csqGVR       = schema.GroupVersionResource{Group: "search.kubesift.io", Version: "v1alpha1", Resource: "clustersearchqueries"}
	nsGVR        = corev1.SchemeGroupVersion.WithResource("namespaces")
)

// demo holds what the steps share.
type demo struct {
	cluster *cluster
	root    string
	opts    options
	// readAPI is true once the API server routes the read API to the manager.
	readAPI bool
}

func (d *demo) queryNamespace() string { return sample.Namespace(0) }

// install applies the kubesift CRDs and the sample Template CRD.
func (d *demo) install(ctx context.Context) error {
	title("2. CRDs and objects")
	for _, path := range []string{"config/crd/bases", "config/samples/crds"} {
		if _, err := d.cluster.kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(d.root, path)); err != nil {
			return err
		}
	}
	if _, err := d.cluster.kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/templates.apps.example.com", "crd/resourceindices.search.kubesift.io",
		"crd/searchqueries.search.kubesift.io", "crd/clustersearchqueries.search.kubesift.io"); err != nil {
		return err
	}
	// The policies record who writes each query; the manager answers a query only while its
	// author may list the target (docs/access.md). They take the author epoch, which the manager
	// keeps in its namespace, as their param: until the manager runs, no query can be written.
	if _, err := d.cluster.kubectl(ctx, "", "apply", "-k", filepath.Join(d.root, "config/admission")); err != nil {
		return err
	}
	if _, err := d.cluster.kubectl(ctx, "", "get", "namespace", admission.PlainEpoch.Namespace); err != nil {
		if _, err := d.cluster.kubectl(ctx, "", "create", "namespace", admission.PlainEpoch.Namespace); err != nil {
			return err
		}
	}
	fmt.Println("Installed the kubesift CRDs, its admission policies and the sample CRD templates.apps.example.com.")
	return nil
}

// waitForAdmissionPolicies waits until the API server records the author of a new query in the
// author epoch that the manager created: a query created before would never be answered. It
// probes with a server-side dry run.
func (d *demo) waitForAdmissionPolicies(ctx context.Context) error {
	const probe = `
apiVersion: search.kubesift.io/v1alpha1
kind: SearchQuery
metadata: {name: admission-probe, namespace: default}
spec:
  target: {apiVersion: admission-probe.kubesift.io/v1, kind: Probe}
`
	deadline := time.Now().Add(time.Minute)
	for {
		epoch, err := d.cluster.kubectl(ctx, "", "get", "configmap", admission.PlainEpoch.Name,
			"-n", admission.PlainEpoch.Namespace, "-o", "jsonpath={.metadata.uid}")
		out := ""
		if err == nil {
			out, err = d.cluster.kubectl(ctx, probe, "create", "--dry-run=server", "-f", "-", "-o",
				`jsonpath={.metadata.annotations.search\.kubesift\.io/author}/{.metadata.annotations.search\.kubesift\.io/author-epoch}`)
		}
		if err == nil && strings.HasSuffix(out, "/"+epoch) && !strings.HasPrefix(out, "/") {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("no author annotation")
			}
			return fmt.Errorf("the admission policies from config/admission do not record the author of new queries: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// load creates the namespaces and the Template objects, with their status, in parallel.
func (d *demo) load(ctx context.Context) error {
	for i := range d.opts.namespaces {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": sample.Namespace(i), "labels": map[string]any{"kubesift.io/demo": "true"}}}}
		if _, err := d.cluster.dyn.Resource(nsGVR).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns.GetName(), err)
		}
	}
	gen := sample.Generator{Namespaces: d.opts.namespaces, Seed: 1, Created: time.Now().Add(-30 * 24 * time.Hour)}
	var done atomic.Int64
	began := time.Now()
	stopProgress := progress(func() string {
		n := done.Load()
		rate := float64(n) / time.Since(began).Seconds()
		return fmt.Sprintf("Creating Template objects: %d/%d (%.0f/s)", n, d.opts.objects, rate)
	})
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := d.createTemplate(ctx, gen.Template(i)); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				done.Add(1)
			}
		})
	}
	var err error
feed:
	for i := range d.opts.objects {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	stopProgress()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("Created %d Template objects in %d namespaces in %s.\n", d.opts.objects, d.opts.namespaces,
		time.Since(began).Round(100*time.Millisecond))
	return nil
}

func (d *demo) createTemplate(ctx context.Context, obj *unstructured.Unstructured) error {
	status := obj.Object["status"]
	res := d.cluster.dyn.Resource(templatesGVR).Namespace(obj.GetNamespace())
	created, err := res.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	created.Object["status"] = status
	if _, err := res.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// index applies the ResourceIndex samples and shows the sync's progress.
func (d *demo) index(ctx context.Context, mgr *managerProcess) error {
	title("4. Indexing: ResourceIndex")
	if err := d.applyFile(ctx, "", "config/samples/search_v1alpha1_resourceindex_templates.yaml"); err != nil {
		return err
	}
	if err := d.applyFile(ctx, "", "config/samples/search_v1alpha1_resourceindex_configmaps.yaml"); err != nil {
		return err
	}
	began := time.Now()
	var line string
	stopProgress := progress(func() string { return line })
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		list, err := d.cluster.dyn.Resource(riGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		parts := []string{}
		for _, ri := range list.Items {
			count, _, _ := unstructured.NestedInt64(ri.Object, "status", "objectCount")
			status, reason := condition(&ri, "Ready")
			parts = append(parts, fmt.Sprintf("%s: %d objects, Ready=%s %s", ri.GetName(), count, status, reason))
			if status == "True" {
				ready++
			}
		}
		line = "Index sync: " + strings.Join(parts, "; ")
		return ready == len(list.Items) && ready > 0, nil
	})
	stopProgress()
	if err != nil {
		return fmt.Errorf("waiting for the ResourceIndex objects to become Ready (manager log: %s): %w", mgr.logPath, err)
	}
	fmt.Printf("Every ResourceIndex is Ready after %s.\n", time.Since(began).Round(100*time.Millisecond))
	return d.cluster.show(ctx, "get", "resourceindices")
}

func (d *demo) applyFile(ctx context.Context, namespace, path string) error {
	args := []string{"apply", "-f", filepath.Join(d.root, path)}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	fmt.Printf("$ kubectl %s\n", strings.Join(append([]string{"apply", "-f", path}, args[3:]...), " "))
	_, err := d.cluster.kubectl(ctx, "", args...)
	return err
}

func (d *demo) apply(ctx context.Context, yaml string) error {
	_, err := d.cluster.kubectl(ctx, yaml, "apply", "-f", "-")
	return err
}

// condition returns the status and reason of a condition, or "Unknown".
func condition(obj *unstructured.Unstructured, typ string) (string, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ {
			s, _ := m["status"].(string)
			r, _ := m["reason"].(string)
			return s, r
		}
	}
	return "Unknown", ""
}

// progress redraws a status line every half second until the returned function is called.
func progress(line func() string) func() {
	tty := isTerminal()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		last := ""
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		lastPrint := time.Time{}
		for {
			select {
			case <-stop:
				if tty {
					fmt.Printf("\r\033[K%s\n", line())
				} else {
					fmt.Println(line())
				}
				return
			case <-tick.C:
				s := line()
				if tty {
					fmt.Printf("\r\033[K%s", s)
				} else if s != last && time.Since(lastPrint) > 3*time.Second {
					fmt.Println(s)
					lastPrint = time.Now()
				}
				last = s
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// poll calls fn until it reports done, fails, or the timeout passes.
func poll(ctx context.Context, timeout time.Duration, fn func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := fn()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitQuery waits until a query is Ready for its current generation and returns it.
func (d *demo) waitQuery(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*unstructured.Unstructured, error) {
	var q *unstructured.Unstructured
	err := poll(ctx, time.Minute, func() (bool, error) {
		var err error
		q, err = d.cluster.dyn.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		status, reason := condition(q, "Ready")
		observed, _, _ := unstructured.NestedInt64(q.Object, "status", "observedGeneration")
		if status == "False" && reason == "InvalidQuery" {
			_, msg := conditionMessage(q)
			return false, fmt.Errorf("query %s is invalid: %s", name, msg)
		}
		return status == "True" && observed == q.GetGeneration(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for query %s: %w", name, err)
	}
	return q, nil
}

func conditionMessage(obj *unstructured.Unstructured) (string, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			r, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return r, msg
		}
	}
	return "", ""
}

// patchLabel sets one label on a Template with a merge patch.
func (d *demo) patchLabel(ctx context.Context, ns, name, key, value string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	_, err := d.cluster.dyn.Resource(templatesGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

var errNoCandidate = errors.New("no object to change was found")
