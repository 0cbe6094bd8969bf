package mirror

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// relistWatch is a watch that streams a list (WatchList): the API server sends every object
// as an ADDED event, then a bookmark marked k8s.io/initial-events-end, then the changes. It
// writes the initial events to the index in pages, as a relist, and hands the reflector only
// the bookmark, once every page is written, and the changes after it. The reflector then
// calls Replace with no items, which commits the relist.
type relistWatch struct {
	m    *Mirror
	src  watch.Interface
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

// streamRelist wraps a watch opened with sendInitialEvents.
func (m *Mirror) streamRelist(ctx context.Context, src watch.Interface) watch.Interface {
	r := &relistWatch{m: m, src: src, out: make(chan watch.Event), stop: make(chan struct{})}
	go r.run(ctx)
	return r
}

func (r *relistWatch) Stop() {
	r.once.Do(func() {
		close(r.stop)
		r.src.Stop()
	})
}

func (r *relistWatch) ResultChan() <-chan watch.Event { return r.out }

// send hands an event to the reflector; false once the watch is stopped.
func (r *relistWatch) send(ctx context.Context, ev watch.Event) bool {
	select {
	case r.out <- ev:
		return true
	case <-r.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func (r *relistWatch) run(ctx context.Context) {
	defer close(r.out)
	defer r.src.Stop()
	m := r.m
	fail := func(err error) {
		// The reflector gives up on the stream and lists instead, with its backoff.
		watchErrorsTotal.WithLabelValues(m.label).Inc()
		status := apierrors.NewInternalError(err).Status()
		r.send(ctx, watch.Event{Type: watch.Error, Object: &status})
	}
	if err := m.w.do(ctx, op{m: m, kind: opBegin}); err != nil {
		fail(err)
		return
	}
	pages := pager{m: m, ctx: ctx}
	initial := true
	for {
		var ev watch.Event
		var ok bool
		select {
		case ev, ok = <-r.src.ResultChan():
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		}
		if !ok {
			return
		}
		if !initial {
			if ev.Type == watch.Error {
				watchErrorsTotal.WithLabelValues(m.label).Inc()
			}
			if !r.send(ctx, ev) {
				return
			}
			continue
		}
		switch ev.Type {
		case watch.Added, watch.Modified:
			u, isU := ev.Object.(*unstructured.Unstructured)
			if !isU {
				fail(fmt.Errorf("streaming %s: got %T, want an unstructured object", m.label, ev.Object))
				return
			}
			if u.GetKind() == "" {
				u.SetGroupVersionKind(m.gvk)
			}
			if err := pages.add(trim(u)); err != nil {
				fail(err)
				return
			}
		case watch.Bookmark:
			if b, isU := ev.Object.(metav1.Object); isU && b.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
				if err := pages.flush(true); err != nil {
					fail(err)
					return
				}
				initial = false
			}
			if !r.send(ctx, ev) {
				return
			}
		case watch.Deleted:
			// The initial events are a snapshot: it holds no deletes.
			fail(fmt.Errorf("streaming %s: a delete among the initial events", m.label))
			return
		default:
			if ev.Type == watch.Error {
				watchErrorsTotal.WithLabelValues(m.label).Inc()
			}
			if !r.send(ctx, ev) {
				return
			}
		}
	}
}

// pager writes the objects of a relist in pages of pageSize. The next page is collected
// while the writer writes the previous one: at most two pages are decoded at a time.
type pager struct {
	m       *Mirror
	ctx     context.Context
	page    []*unstructured.Unstructured
	writing chan error
}

// add adds an object to the page, sending the page to the writer once it is full.
func (p *pager) add(u *unstructured.Unstructured) error {
	p.page = append(p.page, u)
	if len(p.page) < pageSize {
		return nil
	}
	return p.flush(false)
}

// written waits until the page sent last is written.
func (p *pager) written() error {
	if p.writing == nil {
		return nil
	}
	defer func() { p.writing = nil }()
	select {
	case err := <-p.writing:
		return err
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// flush sends the page to the writer once the previous one is written; with wait, it also
// waits until this page is written.
func (p *pager) flush(wait bool) error {
	if err := p.written(); err != nil {
		return err
	}
	if len(p.page) > 0 {
		p.writing = make(chan error, 1)
		if !p.m.w.push(op{m: p.m, kind: opPage, objs: p.page, done: p.writing}) {
			return errStopped
		}
		p.page = make([]*unstructured.Unstructured, 0, pageSize)
	}
	if wait {
		return p.written()
	}
	return nil
}
