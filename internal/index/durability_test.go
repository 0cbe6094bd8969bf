package index

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withBoot makes currentBoot read id ("" for a machine that publishes no boot ID).
func withBoot(t *testing.T, id string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "boot_id")
	if id != "" {
		if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := bootIDPath
	bootIDPath = p
	t.Cleanup(func() { bootIDPath = old })
}

// fileWith opens the file index at path, registers Widgets and stores n of them; it returns
// the store, still open, and the writer's synchronous setting (0 OFF, 1 NORMAL).
func fileWith(t *testing.T, path string, n int) (*Store, int64) {
	t.Helper()
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Register(widgetGVK, KindConfig{Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := upsert(s, obj("n", string(rune('a'+i)), nil)); err != nil {
			t.Fatal(err)
		}
	}
	sync, err := s.w.queryInt64(`PRAGMA synchronous`)
	if err != nil {
		t.Fatal(err)
	}
	return s, sync
}

// reopen closes s and opens the file index at path again, as a restarted manager does.
func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = fileWith(t, path, 0)
	return s
}

func count(t *testing.T, s *Store) int64 {
	t.Helper()
	n, err := s.Count(widgetGVK)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFileIndexDurability(t *testing.T) {
	t.Run("kept within a boot, written without waiting for the disk", func(t *testing.T) {
		withBoot(t, "boot-a")
		path := filepath.Join(t.TempDir(), "index.db")
		s, sync := fileWith(t, path, 3)
		if sync != 0 {
			t.Fatalf("synchronous = %d, want 0 (OFF)", sync)
		}
		if b, err := os.ReadFile(path + bootFileSuffix); err != nil || strings.TrimSpace(string(b)) != "boot-a" {
			t.Fatalf("boot file %q, %v; want boot-a", b, err)
		}
		s = reopen(t, s, path)
		if n := count(t, s); n != 3 {
			t.Fatalf("%d objects after reopening in the same boot, want 3", n)
		}
		ckpt, err := s.w.queryInt64(`PRAGMA wal_autocheckpoint`)
		if err != nil || ckpt != walCheckpointPages {
			t.Fatalf("wal_autocheckpoint = %d, %v; want %d", ckpt, err, walCheckpointPages)
		}
	})

	t.Run("discarded after the machine restarted", func(t *testing.T) {
		withBoot(t, "boot-a")
		path := filepath.Join(t.TempDir(), "index.db")
		s, _ := fileWith(t, path, 3)
		withBoot(t, "boot-b")
		s = reopen(t, s, path)
		if n := count(t, s); n != 0 {
			t.Fatalf("%d objects in a file of an earlier boot, want it discarded", n)
		}
		if err := upsert(s, obj("n", "z", nil)); err != nil || count(t, s) != 1 {
			t.Fatalf("writing after the discard: %v", err)
		}
		if b, _ := os.ReadFile(path + bootFileSuffix); strings.TrimSpace(string(b)) != "boot-b" {
			t.Fatalf("boot file %q, want boot-b", b)
		}
	})

	t.Run("a file with no boot recorded is discarded", func(t *testing.T) {
		withBoot(t, "boot-a")
		path := filepath.Join(t.TempDir(), "index.db")
		s, _ := fileWith(t, path, 2)
		if err := os.Remove(path + bootFileSuffix); err != nil {
			t.Fatal(err)
		}
		s = reopen(t, s, path)
		if n := count(t, s); n != 0 {
			t.Fatalf("%d objects in a file with no boot recorded, want it discarded", n)
		}
	})

	t.Run("no boot ID: synchronous NORMAL, and the file is kept", func(t *testing.T) {
		withBoot(t, "")
		path := filepath.Join(t.TempDir(), "index.db")
		s, sync := fileWith(t, path, 2)
		if sync != 1 {
			t.Fatalf("synchronous = %d, want 1 (NORMAL)", sync)
		}
		if _, err := os.Stat(path + bootFileSuffix); !os.IsNotExist(err) {
			t.Fatalf("boot file written without a boot ID: %v", err)
		}
		s = reopen(t, s, path)
		if n := count(t, s); n != 2 {
			t.Fatalf("%d objects after reopening, want 2", n)
		}
	})
}
