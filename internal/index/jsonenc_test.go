package index

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestAppendJSONRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	docs := []any{
		map[string]any{"s": "q\"\\\n\t\r\x01\x1f<>&\u2028é\xff", "f": 1.5, "big": 1e21, "small": 1e-7, "neg": int64(-3), "i": 7, "i32": int32(8),
			"n": nil, "b": []any{true, false, map[string]any{}}, "num": json.Number("12")},
	}
	for i := range 200 {
		docs = append(docs, realisticObject(r, i).Object, randomObject(r, i).Object)
	}
	for _, d := range docs {
		got, err := appendJSON(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("appendJSON %s\nencoding/json %s", got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x7f", "é\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		js, _ := json.Marshal(s)
		_ = json.Unmarshal(js, &want)
		if got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}
