// Package members shares the connections to member clusters between the controller that
// makes them (MemberCluster) and the one that mirrors kinds through them (ResourceIndex).
//
// A connection is published under the MemberCluster's name with whether its last probe
// succeeded. A connection built from a new kubeconfig (a rotated Secret) gets a new epoch, so
// that mirrors built on the old one are rebuilt; a member that stops answering keeps its
// connection and its epoch, and its mirrors' reflectors retry on their own.
package members

import (
	"net/http"
	"sort"
	"sync"

	"k8s.io/client-go/rest"
)

// Conn is one member's connection as last published.
type Conn struct {
	// Config and HTTP reach the member's API server. Callers must not modify them.
	Config *rest.Config
	HTTP   *http.Client
	// Ready reports whether the last probe of the member succeeded; Message says why not.
	Ready   bool
	Message string
	// Epoch changes whenever Config and HTTP do.
	Epoch uint64
}

// Registry holds the connections of every member. The zero value is not usable; use New.
type Registry struct {
	mu    sync.Mutex
	conns map[string]Conn
	epoch uint64
	subs  []func(name string)
}

// New returns an empty registry.
func New() *Registry { return &Registry{conns: map[string]Conn{}} }

// Set publishes a member's connection: a new one (config and client not seen before for the
// name) gets a new epoch. Subscribers hear of every change of the connection or of its
// readiness.
func (r *Registry) Set(name string, cfg *rest.Config, hc *http.Client, ready bool, message string) {
	r.mu.Lock()
	old, had := r.conns[name]
	c := Conn{Config: cfg, HTTP: hc, Ready: ready, Message: message, Epoch: old.Epoch}
	if !had || old.Config != cfg || old.HTTP != hc {
		r.epoch++
		c.Epoch = r.epoch
	}
	changed := !had || c != old
	r.conns[name] = c
	subs := r.subs
	r.mu.Unlock()
	if changed {
		for _, fn := range subs {
			fn(name)
		}
	}
}

// Remove forgets a member's connection: its MemberCluster was deleted, or its kubeconfig can no
// longer be read.
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	_, had := r.conns[name]
	delete(r.conns, name)
	subs := r.subs
	r.mu.Unlock()
	if had {
		for _, fn := range subs {
			fn(name)
		}
	}
}

// Get returns a member's connection.
func (r *Registry) Get(name string) (Conn, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.conns[name]
	return c, ok
}

// Names returns the members that have a connection, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.conns))
	for n := range r.conns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Subscribe calls fn with a member's name after each change of its connection. fn must not
// block or call the registry.
func (r *Registry) Subscribe(fn func(name string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, fn)
}
