package controller

import (
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/kubesift/kubesift/internal/admission"
	"github.com/kubesift/kubesift/internal/controller/authorepoch"
	"github.com/kubesift/kubesift/internal/controller/catalog"
	"github.com/kubesift/kubesift/internal/controller/membercluster"
	"github.com/kubesift/kubesift/internal/controller/members"
	"github.com/kubesift/kubesift/internal/controller/resourceindex"
	"github.com/kubesift/kubesift/internal/controller/searchquery"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/mirror"
)

// Options configure the controllers.
type Options struct {
	// RequeryInterval is the shortest time between two evaluations of one query that are caused
	// by changes of its target objects. A query whose search takes longer than a tenth of it
	// waits ten times its search's duration instead.
	RequeryInterval time.Duration
	// ProbeInterval is how often each MemberCluster is probed; zero means
	// membercluster.DefaultProbeInterval.
	ProbeInterval time.Duration
	// Catalog records the mirrored kinds; nil creates one. The read API shares it.
	Catalog *catalog.Catalog
	// AuthorEpoch names the author epoch ConfigMap and the policies it vouches for. The manager's
	// cache must have been built with CacheOptions of the same epoch.
	AuthorEpoch admission.Epoch
}

// CacheOptions returns the manager cache settings the controllers need: a transform that strips
// managedFields and Secret data before objects are held in memory, a watch error handler that
// counts broken watches for the metrics, and of all ConfigMaps only the epoch's.
func CacheOptions(epoch admission.Epoch) cache.Options {
	return cache.Options{
		DefaultTransform:         mirror.TransformObject,
		DefaultWatchErrorHandler: mirror.WatchErrorHandler,
		ByObject:                 authorepoch.CacheByObject(epoch),
	}
}

// SetupWithManager registers every kubesift controller with the manager.
func SetupWithManager(mgr ctrl.Manager, store *index.Store, opts Options) error {
	cat := opts.Catalog
	if cat == nil {
		cat = catalog.New()
	}
	reg := members.New()
	if err := resourceindex.SetupWithManager(mgr, store, cat, reg); err != nil {
		return fmt.Errorf("setting up the ResourceIndex controller: %w", err)
	}
	if err := membercluster.SetupWithManager(mgr, membercluster.Options{ProbeInterval: opts.ProbeInterval, Members: reg}); err != nil {
		return fmt.Errorf("setting up the MemberCluster controller: %w", err)
	}
	if err := authorepoch.SetupWithManager(mgr, opts.AuthorEpoch); err != nil {
		return fmt.Errorf("setting up the author epoch keeper: %w", err)
	}
	sqOpts := searchquery.Options{RequeryInterval: opts.RequeryInterval, AuthorEpoch: opts.AuthorEpoch.Key()}
	if err := searchquery.SetupWithManager(mgr, store, cat, sqOpts); err != nil {
		return fmt.Errorf("setting up the query controllers: %w", err)
	}
	return nil
}
