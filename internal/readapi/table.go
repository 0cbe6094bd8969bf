package readapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/rest"
)

// ageColumn is the column a kind without printer columns gets, as the apiextensions server does.
var ageColumn = apiextensionsv1.CustomResourceColumnDefinition{
	Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
}

// tables converts lists to the Table kubectl prints. Custom resources get the printer columns of
// their CRD's version; other kinds get NAME and AGE.
type tables struct {
	crds apiextensionsclient.CustomResourceDefinitionInterface

	mu    sync.Mutex
	cache map[schema.GroupVersionResource]convertorEntry
}

type convertorEntry struct {
	convertor rest.TableConvertor
	at        time.Time
}

func newTables(crds apiextensionsclient.CustomResourceDefinitionInterface) *tables {
	return &tables{crds: crds, cache: map[schema.GroupVersionResource]convertorEntry{}}
}

func (t *tables) convertor(ctx context.Context, gvr schema.GroupVersionResource) (rest.TableConvertor, error) {
	t.mu.Lock()
	e, ok := t.cache[gvr]
	t.mu.Unlock()
	if ok && time.Since(e.at) < discoveryTTL {
		return e.convertor, nil
	}
	var columns []apiextensionsv1.CustomResourceColumnDefinition
	if gvr.Group != "" && strings.Contains(gvr.Group, ".") {
		crd, err := t.crds.Get(ctx, gvr.Resource+"."+gvr.Group, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading the printer columns of %s: %w", gvr.GroupResource(), err)
		default:
			for _, v := range crd.Spec.Versions {
				if v.Name == gvr.Version {
					columns = v.AdditionalPrinterColumns
				}
			}
		}
	}
	if len(columns) == 0 {
		columns = []apiextensionsv1.CustomResourceColumnDefinition{ageColumn}
	}
	c, err := tableconvertor.New(columns)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.cache[gvr] = convertorEntry{convertor: c, at: time.Now()}
	t.mu.Unlock()
	return c, nil
}

// table builds the Table of list. includeObject is the request's includeObject parameter: None,
// Metadata (the default) or Object.
func (t *tables) table(ctx context.Context, gvr schema.GroupVersionResource, list *unstructured.UnstructuredList,
	includeObject metav1.IncludeObjectPolicy, noHeaders bool) (*metav1.Table, error) {
	c, err := t.convertor(ctx, gvr)
	if err != nil {
		return nil, err
	}
	tbl, err := c.ConvertToTable(ctx, list, &metav1.TableOptions{NoHeaders: noHeaders})
	if err != nil {
		return nil, err
	}
	tbl.APIVersion, tbl.Kind = metav1.SchemeGroupVersion.String(), "Table"
	for i := range tbl.Rows {
		row := &tbl.Rows[i]
		u, ok := row.Object.Object.(*unstructured.Unstructured)
		row.Object.Object = nil
		if !ok {
			continue
		}
		switch includeObject {
		case metav1.IncludeNone:
		case metav1.IncludeObject:
			row.Object.Raw, err = json.Marshal(u.Object)
		default:
			row.Object.Raw, err = json.Marshal(partialMetadata(u))
		}
		if err != nil {
			return nil, err
		}
	}
	return tbl, nil
}

// partialMetadata is what Kubernetes returns for includeObject=Metadata.
func partialMetadata(u *unstructured.Unstructured) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.APIVersion, m.Kind = metav1.SchemeGroupVersion.String(), "PartialObjectMetadata"
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		_ = runtimeFromUnstructured(md, &m.ObjectMeta)
	}
	return m
}

func runtimeFromUnstructured(in map[string]any, out *metav1.ObjectMeta) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(in, out)
}
