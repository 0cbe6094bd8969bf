package token

import (
	"errors"
	"strings"
	"testing"
)

// fingerprint stands for a query's fingerprint (16 bytes, hex).
const fingerprint = "00112233445566778899aabbccddeeff"

func FuzzDecode(f *testing.F) {
	key := []byte("fuzz-key")
	const n = 3
	f.Add(Encode(key, fingerprint, []any{int64(1), "uid", int64(2)}))
	f.Add(Encode(key, fingerprint, []any{nil, "", int64(0)}))
	f.Add(Encode(key, fingerprint, []any{2.5, "ü", int64(-1)}))
	f.Add(Encode(key, fingerprint, []any{[]byte{0, 1}, "", int64(0)}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, tok string) {
		vals, err := Decode(key, fingerprint, n, tok)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(vals) != n {
			t.Fatalf("%d values", len(vals))
		}
		// A valid token re-encodes to itself.
		if again := Encode(key, fingerprint, vals); again != tok {
			t.Fatalf("token does not round-trip")
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	key := []byte("key")
	good := Encode(key, fingerprint, []any{int64(7), "uid", int64(1)})
	tests := []struct {
		name, tok, fp, msg string
		key                []byte
		n                  int
	}{
		{name: "other query", tok: good, fp: "ffeeddccbbaa99887766554433221100", msg: "different query"},
		{name: "other key", tok: good, key: []byte("other"), msg: "modified or issued by another index"},
		{name: "edited", tok: good[:len(good)-2] + "AA", msg: "modified"},
		{name: "truncated", tok: "AQID", msg: "truncated"},
		{name: "not base64url", tok: good + "=", msg: "not base64url"},
		{name: "other sort", tok: good, n: 2, msg: "does not match the query's sort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, fp, n := key, fingerprint, 3
			if tt.key != nil {
				k = tt.key
			}
			if tt.fp != "" {
				fp = tt.fp
			}
			if tt.n != 0 {
				n = tt.n
			}
			_, err := Decode(k, fp, n, tt.tok)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Decode: %v, want %q", err, tt.msg)
			}
		})
	}
	vals, err := Decode(key, fingerprint, 3, good)
	if err != nil || vals[0] != int64(7) || vals[1] != "uid" || vals[2] != int64(1) {
		t.Fatalf("Decode(good) = %v, %v", vals, err)
	}
}
