package readapi

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controller/searchquery"
)

// discoveryTTL bounds how long the cluster's discovery of one group-version is reused. Resource
// names and scopes rarely change; a CRD added meanwhile is found once the entry expires.
const discoveryTTL = 30 * time.Second

// mirroredKind is a kind the index mirrors, with its resource as the cluster serves it.
type mirroredKind struct {
	gvk      schema.GroupVersionKind
	resource metav1.APIResource // as discovered: name, singularName, shortNames, categories
	state    catalog.Kind
}

func (m mirroredKind) gvr() schema.GroupVersionResource {
	return m.gvk.GroupVersion().WithResource(m.resource.Name)
}

func (m mirroredKind) target() searchv1alpha1.TargetRef {
	return searchv1alpha1.TargetRef{APIVersion: m.gvk.GroupVersion().String(), Kind: m.gvk.Kind}
}

// kinds resolves resources and kinds to mirrored kinds: the catalog says what the index mirrors,
// the cluster's discovery says under which resource name.
type kinds struct {
	catalog   *catalog.Catalog
	discovery discovery.DiscoveryInterface

	mu    sync.Mutex
	cache map[schema.GroupVersion]discovered
}

type discovered struct {
	resources []metav1.APIResource
	at        time.Time
}

func newKinds(cat *catalog.Catalog, d discovery.DiscoveryInterface) *kinds {
	return &kinds{catalog: cat, discovery: d, cache: map[schema.GroupVersion]discovered{}}
}

// resources returns the top-level resources the cluster serves in gv.
func (k *kinds) resources(gv schema.GroupVersion) ([]metav1.APIResource, error) {
	k.mu.Lock()
	d, ok := k.cache[gv]
	k.mu.Unlock()
	if ok && time.Since(d.at) < discoveryTTL {
		return d.resources, nil
	}
	list, err := k.discovery.ServerResourcesForGroupVersion(gv.String())
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("discovering %s: %w", gv, err)
	}
	var out []metav1.APIResource
	if list != nil {
		for _, r := range list.APIResources {
			if !strings.Contains(r.Name, "/") {
				out = append(out, r)
			}
		}
	}
	k.mu.Lock()
	k.cache[gv] = discovered{resources: out, at: time.Now()}
	k.mu.Unlock()
	return out, nil
}

// byKind returns the mirrored kind gvk, or a NotFound error that names the ResourceIndex to
// create.
func (k *kinds) byKind(gvk schema.GroupVersionKind) (mirroredKind, error) {
	state, ok := k.catalog.Get(gvk)
	target := searchv1alpha1.TargetRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
	if !ok {
		return mirroredKind{}, notMirrored(target, schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind)})
	}
	res, err := k.resources(gvk.GroupVersion())
	if err != nil {
		return mirroredKind{}, apierrors.NewServiceUnavailable(err.Error())
	}
	for _, r := range res {
		if r.Kind == gvk.Kind {
			return mirroredKind{gvk: gvk, resource: r, state: state}, nil
		}
	}
	return mirroredKind{}, apierrors.NewServiceUnavailable(
		fmt.Sprintf("%s is mirrored but the cluster's discovery does not list it", target.String()))
}

// byResource returns the mirrored kind served as resource in gv. A resource the cluster does not
// serve is NotFound like in Kubernetes; one it serves but the index does not mirror is NotFound
// with the ResourceIndex to create.
func (k *kinds) byResource(gv schema.GroupVersion, resource string) (mirroredKind, error) {
	res, err := k.resources(gv)
	if err != nil {
		return mirroredKind{}, apierrors.NewServiceUnavailable(err.Error())
	}
	i := slices.IndexFunc(res, func(r metav1.APIResource) bool { return r.Name == resource })
	if i < 0 {
		return mirroredKind{}, apierrors.NewNotFound(gv.WithResource(resource).GroupResource(), "")
	}
	r := res[i]
	gvk := gv.WithKind(r.Kind)
	state, ok := k.catalog.Get(gvk)
	if !ok {
		return mirroredKind{}, notMirrored(searchv1alpha1.TargetRef{APIVersion: gv.String(), Kind: r.Kind},
			gv.WithResource(resource).GroupResource())
	}
	return mirroredKind{gvk: gvk, resource: r, state: state}, nil
}

// mirrored returns every mirrored kind the cluster's discovery knows, sorted by group, version
// and resource.
func (k *kinds) mirrored() []mirroredKind {
	var out []mirroredKind
	for gvk, state := range k.catalog.List() {
		res, err := k.resources(gvk.GroupVersion())
		if err != nil {
			continue
		}
		for _, r := range res {
			if r.Kind == gvk.Kind {
				out = append(out, mirroredKind{gvk: gvk, resource: r, state: state})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b mirroredKind) int {
		return strings.Compare(a.gvr().String(), b.gvr().String())
	})
	return out
}

// notMirrored is the 404 for a kind that no ResourceIndex mirrors.
func notMirrored(target searchv1alpha1.TargetRef, gr schema.GroupResource) error {
	err := apierrors.NewNotFound(gr, "")
	err.ErrStatus.Message = searchquery.NotIndexedMessage(target)
	return err
}
