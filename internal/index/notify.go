package index

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Subscription delivers coalesced change notices. Writers never block on it: C has
// capacity 1 and the set of changed kinds accumulates until Changed drains it.
//
//	sub := store.Subscribe()
//	defer sub.Close()
//	for range sub.C() {
//		for gvk, gen := range sub.Changed() { ... }
//	}
type Subscription struct {
	s       *Store
	c       chan struct{}
	mu      sync.Mutex
	pending map[schema.GroupVersionKind]uint64
	closed  bool
}

// Subscribe returns a new subscription. Call Close when done.
func (s *Store) Subscribe() *Subscription {
	sub := &Subscription{s: s, c: make(chan struct{}, 1), pending: map[schema.GroupVersionKind]uint64{}}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.closed.Load() {
		sub.closed = true
		close(sub.c)
		return sub
	}
	s.subs[sub] = struct{}{}
	return sub
}

// C receives a value when at least one kind changed since the last Changed call. It is
// closed when the subscription or the store is closed.
func (sub *Subscription) C() <-chan struct{} { return sub.c }

// Changed returns the kinds that changed since the previous call, each with its latest
// generation, and resets the set.
func (sub *Subscription) Changed() map[schema.GroupVersionKind]uint64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	out := sub.pending
	sub.pending = map[schema.GroupVersionKind]uint64{}
	return out
}

// Close stops delivery and closes C.
func (sub *Subscription) Close() {
	sub.s.subsMu.Lock()
	defer sub.s.subsMu.Unlock()
	delete(sub.s.subs, sub)
	sub.closeLocked()
}

// closeLocked closes the channel once. The caller holds the store's subsMu.
func (sub *Subscription) closeLocked() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.closed {
		sub.closed = true
		close(sub.c)
	}
}

// notify records changes for every subscriber and wakes them without blocking.
func (s *Store) notify(changed map[schema.GroupVersionKind]uint64) {
	if len(changed) == 0 {
		return
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		sub.mu.Lock()
		for gvk, gen := range changed {
			if gen > sub.pending[gvk] {
				sub.pending[gvk] = gen
			}
		}
		sub.mu.Unlock()
		select {
		case sub.c <- struct{}{}:
		default:
		}
	}
}
