package index

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A file index is written without waiting for the disk (synchronous=OFF). SQLite keeps such
// a file intact when the process dies, since the kernel still holds every write, but not when
// the machine does: the file may then be corrupt. The index is a cache that list and watch
// rebuild, so a file that may have outlived its machine's crash is discarded when opened.
//
// The machine's boot is recognised by the kernel's boot ID, kept in a small file next to the
// database (bootFileSuffix) and written, and synced, before the database is opened. A database
// whose boot file is missing or names another boot is deleted, with its WAL and shared-memory
// files. Where no boot ID can be read (not Linux), or the path is a URI, the file is written
// with synchronous=NORMAL, which SQLite keeps intact in WAL mode through a crash of the machine.

// bootFileSuffix names the file next to the database that holds the boot ID it was written in.
const bootFileSuffix = ".boot"

// bootIDPath is where Linux publishes the ID of the current boot; a variable for tests.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

// currentBoot returns the ID of the current boot, or "" when it cannot be read.
func currentBoot() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// prepareFile readies the database file at path for writes that do not wait for the disk. It
// returns false, and touches nothing, when that is not safe here; then the caller keeps
// synchronous=NORMAL. discarded tells whether an existing database was deleted.
func prepareFile(path string) (relaxed, discarded bool, err error) {
	boot := currentBoot()
	if boot == "" || strings.HasPrefix(path, "file:") {
		return false, false, nil
	}
	bootFile := path + bootFileSuffix
	prev, err := os.ReadFile(bootFile)
	switch {
	case err == nil && string(bytes.TrimSpace(prev)) == boot:
		return true, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, false, fmt.Errorf("reading %s: %w", bootFile, err)
	}
	// Written in another boot, or by a version that did not record it: start empty.
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		switch err := os.Remove(path + suffix); {
		case err == nil:
			discarded = discarded || suffix == ""
		case !errors.Is(err, fs.ErrNotExist):
			return false, false, fmt.Errorf("removing an index file of another boot: %w", err)
		}
	}
	if err := writeSynced(bootFile, []byte(boot+"\n")); err != nil {
		return false, discarded, fmt.Errorf("recording the boot of %s: %w", path, err)
	}
	return true, discarded, nil
}

// writeSynced writes data to path through a temporary file, syncing the file and its
// directory, so that path holds either its old content or data after a crash.
func writeSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
