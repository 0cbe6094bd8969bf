package mirror

import (
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent returns the garbage collector's current target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestRelistGCRaisesWhileRelistsAreWritten(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(70))
	defer SetRelistGCPercent(0)
	a, b := &Mirror{}, &Mirror{}

	var off relistGC
	off.step(a)
	if got := gcPercent(); got != 70 {
		t.Fatalf("with no relist target set, a relist step set GOGC to %d, want 70 unchanged", got)
	}
	off.end(a)

	SetRelistGCPercent(400)
	var g relistGC
	g.step(a)
	if got := gcPercent(); got != 400 {
		t.Fatalf("GOGC during a relist = %d, want 400", got)
	}
	g.step(b)
	g.step(a)
	g.end(a)
	if got := gcPercent(); got != 400 {
		t.Fatalf("GOGC while another relist is written = %d, want 400", got)
	}
	g.end(b)
	if got := gcPercent(); got != 70 {
		t.Fatalf("GOGC after the last relist = %d, want the process's 70", got)
	}
	g.end(b) // a second end of the same relist changes nothing
	if got := gcPercent(); got != 70 {
		t.Fatalf("GOGC after a repeated end = %d, want 70", got)
	}

	g.step(a)
	g.endAll()
	if got := gcPercent(); got != 70 {
		t.Fatalf("GOGC after the writer stopped = %d, want 70", got)
	}
}

func TestRelistGCEndsAnIdleRelist(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer SetRelistGCPercent(0)
	SetRelistGCPercent(300)
	var g relistGC
	g.step(&Mirror{})
	if got := gcPercent(); got != 300 {
		t.Fatalf("GOGC during a relist = %d, want 300", got)
	}
	// A relist that stops without committing: the idle timer sets the target back.
	g.mu.Lock()
	g.idle.Reset(10 * time.Millisecond)
	g.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for gcPercent() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d after the relist went idle, want 100", gcPercent())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
