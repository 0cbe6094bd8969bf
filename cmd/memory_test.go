package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	cases := []struct {
		name    string
		env     map[string]string
		cache   int64
		want    int64
		wantErr bool
	}{
		{name: "no limit given", env: map[string]string{}, want: 0},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "100MiB", memoryLimitEnv: "1073741824"}, want: 0},
		{name: "90% of the limit less the cache", env: map[string]string{memoryLimitEnv: "1073741824"}, cache: 16 << 20,
			want: 951268147}, // (1 GiB - 16 MiB) * 0.9
		{name: "not a number", env: map[string]string{memoryLimitEnv: "1Gi"}, wantErr: true},
		{name: "cache larger than the limit", env: map[string]string{memoryLimitEnv: "1000"}, cache: 2000, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GOMEMLIMIT", memoryLimitEnv} {
				t.Setenv(k, "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if _, ok := tc.env["GOMEMLIMIT"]; !ok {
				unsetenv(t, "GOMEMLIMIT")
			}
			got, err := setMemoryLimit(tc.cache)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
			if got > 0 && debug.SetMemoryLimit(-1) != got {
				t.Fatal("the runtime's limit was not set")
			}
		})
	}
}

// unsetenv removes a variable for the rest of the test (t.Setenv restores it afterwards).
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

// TestIndexCacheBytes checks the page cache defaults: a set flag wins; otherwise a file index
// gets the larger budget its initial sync needs.
func TestIndexCacheBytes(t *testing.T) {
	for _, tc := range []struct {
		flag int64
		file bool
		want int64
	}{{0, false, 16 << 20}, {0, true, 48 << 20}, {8 << 20, true, 8 << 20}, {100 << 20, false, 100 << 20}} {
		if got := indexCacheBytes(tc.flag, tc.file); got != tc.want {
			t.Errorf("indexCacheBytes(%d, file=%v) = %d, want %d", tc.flag, tc.file, got, tc.want)
		}
	}
}
