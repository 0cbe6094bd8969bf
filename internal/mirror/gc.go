package mirror

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// relistGCPercent is the garbage collector's target while a relist is written; 0 leaves it
// alone. See SetRelistGCPercent.
var relistGCPercent atomic.Int32

// FileRelistGCPercent is the target the manager sets while relists are written into a file
// index. At 100,000 objects it made the initial sync 1.14x faster than Go's default of 100,
// with 0.93x the CPU (docs/design/index.md). In memory the heap grows with the index during a
// relist, so the manager raises nothing there.
const FileRelistGCPercent = 400

// relistGCIdle ends a raised target when no relist step has arrived for this long: a relist
// that stopped without committing (its mirror stopped, its stream broke) does not keep it.
const relistGCIdle = 10 * time.Second

// SetRelistGCPercent sets the Go garbage collector's target (as GOGC) for the time a relist is
// written; 0, the default, leaves the target alone. A relist decodes every object of a kind,
// page after page, and drops each page once written: a stream of short-lived garbage over a
// live heap that stays small when the index is a file. Go's default target of 100 then
// collects after every few MiB allocated. A higher target while relists are written collects
// less often; the Go memory limit still bounds the heap. When the last relist commits (or no
// step has arrived for relistGCIdle), the process's own target is set back and the memory the
// garbage held is returned to the operating system.
func SetRelistGCPercent(p int) {
	relistGCPercent.Store(int32(max(p, 0)))
}

// relistGC raises the garbage collector's target while relists are written.
type relistGC struct {
	mu      sync.Mutex
	writing map[*Mirror]struct{} // mirrors with a relist in progress
	prev    int                  // the target to set back
	idle    *time.Timer
}

// step records a step of m's relist: the target is raised while any relist is in progress.
func (g *relistGC) step(m *Mirror) {
	p := int(relistGCPercent.Load())
	if p == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writing == nil {
		g.writing = map[*Mirror]struct{}{}
	}
	if len(g.writing) == 0 {
		g.prev = debug.SetGCPercent(p)
	}
	g.writing[m] = struct{}{}
	if g.idle == nil {
		g.idle = time.AfterFunc(relistGCIdle, g.endAll)
	} else {
		g.idle.Reset(relistGCIdle)
	}
}

// end records that m's relist has committed or failed.
func (g *relistGC) end(m *Mirror) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.writing[m]; !ok {
		return
	}
	delete(g.writing, m)
	g.restoreLocked()
}

// endAll ends every relist's raised target: the writer stopped, or no step arrived for a while.
func (g *relistGC) endAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.writing) == 0 {
		return
	}
	clear(g.writing)
	g.restoreLocked()
}

func (g *relistGC) restoreLocked() {
	if len(g.writing) > 0 {
		return
	}
	if g.idle != nil {
		g.idle.Stop()
	}
	debug.SetGCPercent(g.prev)
	// The garbage of the relist may have grown the heap up to the raised target: collect it
	// now and return its memory, rather than keep it resident until the scavenger gets to it.
	go debug.FreeOSMemory()
}
