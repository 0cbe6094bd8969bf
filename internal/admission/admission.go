package admission

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// Files lists the manifests of the policies, relative to config/admission, in the order of its
// kustomization.
var Files = []string{"query_author_policy.yaml", "query_author_guard.yaml", "query_access_policy.yaml", "author_epoch_watch.yaml"}

// Install creates or replaces every object in the policy manifests under dir (config/admission).
func Install(ctx context.Context, c client.Client, dir string) error {
	for _, name := range Files {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		objs, err := decode(data)
		if err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		for _, obj := range objs {
			if err := createOrReplace(ctx, c, obj); err != nil {
				return fmt.Errorf("installing %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
			}
		}
	}
	return nil
}

func decode(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

func createOrReplace(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	err := c.Create(ctx, obj.DeepCopy())
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(obj.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	return c.Update(ctx, obj)
}

// WaitEnforced waits until the API server records the author of a new query with the current
// author epoch, which it does a moment after the policies and the epoch ConfigMap are created (by
// the manager, or by Epoch.Renew). It probes with a server-side dry run in namespace, so nothing
// is stored.
func WaitEnforced(ctx context.Context, c client.Client, epoch Epoch, namespace string) error {
	probe := func() error {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, epoch.Key(), cm); err != nil {
			return fmt.Errorf("getting the author epoch: %w", err)
		}
		q := &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{"target": map[string]any{"apiVersion": "admission-probe.kubesift.io/v1", "kind": "Probe"}},
		}}
		q.SetAPIVersion(searchv1alpha1.GroupVersion.String())
		q.SetKind("SearchQuery")
		q.SetNamespace(namespace)
		q.SetGenerateName("admission-probe-")
		if err := c.Create(ctx, q, client.DryRunAll); err != nil {
			return err
		}
		if q.GetAnnotations()[searchv1alpha1.AnnotationAuthor] == "" {
			return errors.New("a new SearchQuery got no author annotation")
		}
		if got := q.GetAnnotations()[searchv1alpha1.AnnotationAuthorEpoch]; got != string(cm.UID) {
			return fmt.Errorf("a new SearchQuery got author epoch %q, not the current %q", got, cm.UID)
		}
		return nil
	}
	var last error
	for {
		if last = probe(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the admission policies to be enforced: %w (last: %w)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
