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

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
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

// kinds resolves resources and kinds: the cluster's discovery says which resources exist and
// under which names, the catalog says which kinds the index mirrors. Discovery is what every
// authenticated user may read from the cluster itself; the catalog is consulted only after the
// caller's access to the resource is checked, so that mirroring is revealed to no one else.
type kinds struct {
	catalog   *catalog.Catalog
	discovery discovery.DiscoveryInterface

	mu     sync.Mutex
	cache  map[schema.GroupVersion]discovered
	groups discoveredGroups
}

type discovered struct {
	resources []metav1.APIResource
	at        time.Time
}

type discoveredGroups struct {
	list *metav1.APIGroupList
	at   time.Time
}

func newKinds(cat *catalog.Catalog, d discovery.DiscoveryInterface) *kinds {
	return &kinds{catalog: cat, discovery: d, cache: map[schema.GroupVersion]discovered{}}
}

// serverGroups returns the API groups the cluster serves, except the read API's own.
func (k *kinds) serverGroups() (*metav1.APIGroupList, error) {
	k.mu.Lock()
	g := k.groups
	k.mu.Unlock()
	if g.list != nil && time.Since(g.at) < discoveryTTL {
		return g.list, nil
	}
	list, err := k.discovery.ServerGroups()
	if err != nil {
		return nil, fmt.Errorf("discovering the cluster's groups: %w", err)
	}
	out := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, group := range list.Groups {
		if group.Name != queryv1alpha1.GroupName {
			out.Groups = append(out.Groups, group)
		}
	}
	k.mu.Lock()
	k.groups = discoveredGroups{list: out, at: time.Now()}
	k.mu.Unlock()
	return out, nil
}

// resources returns the top-level resources the cluster serves in gv.
func (k *kinds) resources(gv schema.GroupVersion) ([]metav1.APIResource, error) {
	k.mu.Lock()
	d, ok := k.cache[gv]
	k.mu.Unlock()
	if ok && time.Since(d.at) < discoveryTTL {
		return d.resources, nil
	}
	var out []metav1.APIResource
	if gv.Group != queryv1alpha1.GroupName {
		list, err := k.discovery.ServerResourcesForGroupVersion(gv.String())
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("discovering %s: %w", gv, err)
		}
		if list != nil {
			for _, r := range list.APIResources {
				if !strings.Contains(r.Name, "/") {
					out = append(out, r)
				}
			}
		}
	}
	k.mu.Lock()
	k.cache[gv] = discovered{resources: out, at: time.Now()}
	k.mu.Unlock()
	return out, nil
}

// byResource returns the resource the cluster serves as name in gv, or Kubernetes' NotFound.
func (k *kinds) byResource(gv schema.GroupVersion, name string) (metav1.APIResource, error) {
	return k.find(gv, func(r metav1.APIResource) bool { return r.Name == name },
		func() error { return apierrors.NewNotFound(gv.WithResource(name).GroupResource(), "") })
}

// byKind returns the resource the cluster serves for gvk, or a NotFound error that says the
// cluster serves no such kind.
func (k *kinds) byKind(gvk schema.GroupVersionKind) (metav1.APIResource, error) {
	return k.find(gvk.GroupVersion(), func(r metav1.APIResource) bool { return r.Kind == gvk.Kind },
		func() error {
			target := searchv1alpha1.TargetRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
			err := apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind)}, "")
			err.ErrStatus.Message = fmt.Sprintf("the cluster serves no kind %s", target.String())
			return err
		})
}

func (k *kinds) find(gv schema.GroupVersion, match func(metav1.APIResource) bool, notFound func() error) (metav1.APIResource, error) {
	res, err := k.resources(gv)
	if err != nil {
		return metav1.APIResource{}, apierrors.NewServiceUnavailable(err.Error())
	}
	if i := slices.IndexFunc(res, match); i >= 0 {
		return res[i], nil
	}
	return metav1.APIResource{}, notFound()
}

// mirrored returns the mirrored kind served as r in gv, or a NotFound error that names the
// ResourceIndex to create. Call it only once the caller may read r: the answer tells whether
// the index mirrors the kind.
func (k *kinds) mirrored(gv schema.GroupVersion, r metav1.APIResource) (mirroredKind, error) {
	gvk := gv.WithKind(r.Kind)
	state, ok := k.catalog.Get(gvk)
	if !ok {
		return mirroredKind{}, notMirrored(searchv1alpha1.TargetRef{APIVersion: gv.String(), Kind: r.Kind},
			gv.WithResource(r.Name).GroupResource())
	}
	return mirroredKind{gvk: gvk, resource: r, state: state}, nil
}

// notMirrored is the 404 for a kind that no ResourceIndex mirrors.
func notMirrored(target searchv1alpha1.TargetRef, gr schema.GroupResource) error {
	err := apierrors.NewNotFound(gr, "")
	err.ErrStatus.Message = searchquery.NotIndexedMessage(target)
	return err
}
