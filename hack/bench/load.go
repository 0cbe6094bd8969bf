package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubesift/kubesift/internal/sample"
)

// generator returns the sample generator of a run.
func generator(o options) sample.Generator {
	return sample.Generator{Namespaces: o.namespaces, Seed: o.seed}
}

// loadObjects creates sample objects from..to-1 through the API, each followed by its status
// write (the status subresource ignores status on create), from o.workers goroutines.
func loadObjects(ctx context.Context, c *cluster, o options, from, to int) (LoadResult, error) {
	return loadSpread(ctx, []*cluster{c}, o, from, to)
}

// loadSpread is loadObjects over several clusters: object i goes to cs[clusterOf(i, len(cs))].
func loadSpread(ctx context.Context, cs []*cluster, o options, from, to int) (LoadResult, error) {
	res := LoadResult{Objects: to - from, ClientRoutines: o.workers}
	if to <= from {
		return res, nil
	}
	into := ""
	if len(cs) > 1 {
		into = fmt.Sprintf(" into %d clusters", len(cs))
	}
	logf("Loading objects %d..%d%s through the API from %d goroutines", from, to-1, into, o.workers)
	gen := generator(o)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var created, statuses atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.workers {
		wg.Go(func() {
			for i := range next {
				if err := createOne(ctx, cs[clusterOf(i, len(cs))], gen.Template(i), &created); err != nil {
					cancel(err)
					return
				}
				statuses.Add(1)
			}
		})
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				n := statuses.Load()
				rate := float64(n) / time.Since(start).Seconds()
				eta := time.Duration(0)
				if rate > 0 {
					eta = time.Duration(float64(int64(to-from)-n) / rate * float64(time.Second))
				}
				logf("  loaded %d/%d (%.0f objects/s with status, ETA %s)", n, to-from, rate, eta.Round(time.Second))
			}
		}
	}()

feed:
	for i := from; i < to; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return res, fmt.Errorf("loading objects: %w", err)
	}
	cancel(nil)
	<-done

	secs := time.Since(start).Seconds()
	res.Seconds = secs
	res.CreatesPerSec = float64(created.Load()) / secs
	res.StatusPerSec = float64(statuses.Load()) / secs
	logf("Loaded %d objects in %.0fs (%.0f creates/s and as many status writes/s)", to-from, secs, res.CreatesPerSec)
	return res, nil
}

// createOne creates obj and then writes its status.
func createOne(ctx context.Context, c *cluster, obj *unstructured.Unstructured, created *atomic.Int64) error {
	status := obj.Object["status"]
	delete(obj.Object, "status")
	var out *unstructured.Unstructured
	err := retryTransient(ctx, func() error {
		var err error
		out, err = c.templates.Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	created.Add(1)
	out.Object["status"] = status
	err = retryTransient(ctx, func() error {
		_, err := c.templates.Namespace(out.GetNamespace()).UpdateStatus(ctx, out, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("writing the status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// retryTransient calls f again, a few times with a growing pause, while the API server answers
// that it is overloaded or timed out.
func retryTransient(ctx context.Context, f func() error) error {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := f()
		transient := apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
			apierrors.IsTimeout(err) || apierrors.IsServiceUnavailable(err)
		if err == nil || attempt == 5 || !transient {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}
