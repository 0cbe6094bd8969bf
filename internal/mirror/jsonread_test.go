package mirror

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/json"

	"github.com/kubesift/kubesift/internal/sample"
)

// jsonSeeds are values that the fuzz tests start from: the shapes of Kubernetes objects and
// the corners of JSON's grammar.
var jsonSeeds = []string{
	`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"app":"web"}},"data":{"k":"v"}}`,
	`{"spec":{"replicas":3,"ratio":0.5,"big":9223372036854775807,"bigger":9223372036854775808,"neg":-9223372036854775808,"e":1e3,"f":-0,"g":1E-2}}`,
	`[1, 2.5, "x", true, false, null, {}, [], {"a":[{"b":null}]}]`,
	`"\u00e9\ud83d\ude00\ud800\udc00\ud800x\udc00\\\"\/\b\f\n\r\t"`,
	"\"\xff\xfe caf\xc3\xa9\"",
	`{"a":1,"a":2}`,
	`  {"a" : { "b" : [ 1 , 2 ] } }  `,
	`1e400`, `01`, `-`, `1.`, `.5`, `[1,]`, `{"a":1,}`, `{"a"}`, `tru`, `nul`, `"\x"`, `"\u12"`, "\"a\x01\"", ``,
	`123456789012345678`, `1234567890123456789`, `-1234567890123456789`, `12345678901234567890`,
}

// FuzzJSONValue holds the parser to the API machinery's decoder: the same value for every
// input it accepts, and an error for every input it rejects.
func FuzzJSONValue(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want any
		wantErr := json.UnmarshalCaseSensitivePreserveInts(b, &want)
		got, err := parseJSON(b, map[string]string{})
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("parsing %q: got error %v, the API machinery %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("parsing %q: got %#v, the API machinery %#v", b, got, want)
		}
	})
}

// TestJSONDepth checks that nesting deeper than the API machinery accepts is an error, not a
// stack overflow.
func TestJSONDepth(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := parseJSON([]byte(deep), map[string]string{}); err == nil {
		t.Fatalf("parsing %d nested arrays: got no error", maxDepth+1)
	}
	ok := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	if _, err := parseJSON([]byte(ok), map[string]string{}); err != nil {
		t.Fatalf("parsing %d nested objects: %v", maxDepth, err)
	}
}

// refDecoder decodes a watch stream with the API machinery's stream decoder, as this
// package did before jsonread.go: the reference that FuzzEventStream compares with.
type refDecoder struct{ dec json.Decoder }

type refEvent struct {
	Type   watch.EventType `json:"type"`
	Object map[string]any  `json:"object"`
}

func (d refDecoder) Decode() (watch.EventType, map[string]any, error) {
	var ev refEvent
	if err := d.dec.Decode(&ev); err != nil {
		return "", nil, err
	}
	switch ev.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error:
	default:
		return "", nil, fmt.Errorf("got invalid watch event type: %v", ev.Type)
	}
	if ev.Object == nil {
		return "", nil, fmt.Errorf("a %s watch event without an object", ev.Type)
	}
	return ev.Type, ev.Object, nil
}

// chunkReader returns at most n bytes per Read, as a network stream may.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

// errorKind sorts a decoding error as the watch that reads the stream tells them apart: the
// stream's end, or a failure that ends it.
func errorKind(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, io.EOF):
		return "end"
	default:
		return "failure"
	}
}

// FuzzEventStream holds eventDecoder to the API machinery's stream decoder, on streams of
// events read in chunks of every size: the same events, then the same end.
func FuzzEventStream(f *testing.F) {
	events := `{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}}
{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}
{"type":"ERROR","object":{"kind":"Status","code":410}}
`
	for _, s := range []string{events, events[:40], events + `{"type":"ADDED"`, `{"type":"RENAMED","object":{}}`,
		`{"type":"ADDED","object":null}`, `{"type":1,"object":{}}`, `{"object":{"a":1},"object":{"b":2},"type":"ADDED"}`,
		`{"type":"ADDED","object":[]}`, `[]`, `"ADDED"`, `7`, `}`, `{"type":"ADDED","object":{}}x`, "  \n"} {
		f.Add([]byte(s), uint16(1))
		f.Add([]byte(s), uint16(7))
		f.Add([]byte(s), uint16(4096))
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint16) {
		n := max(int(chunk), 1)
		ref := refDecoder{dec: json.NewDecoderCaseSensitivePreserveInts(chunkReader{bytes.NewReader(b), n})}
		d := newEventDecoder(io.NopCloser(chunkReader{bytes.NewReader(b), n}))
		for i := 0; ; i++ {
			wantType, wantObj, wantErr := ref.Decode()
			gotType, got, err := d.Decode()
			if errorKind(err) != errorKind(wantErr) {
				t.Fatalf("event %d of %q: got error %v, the API machinery %v", i, b, err, wantErr)
			}
			if err != nil {
				return
			}
			if gotType != wantType || !reflect.DeepEqual(got.(interface{ UnstructuredContent() map[string]any }).UnstructuredContent(), wantObj) {
				t.Fatalf("event %d of %q: got %s %v, the API machinery %s %v", i, b, gotType, got, wantType, wantObj)
			}
		}
	})
}

// BenchmarkEventDecoder decodes a streamed list of sample Templates, with eventDecoder and
// with the API machinery's stream decoder it replaced.
func BenchmarkEventDecoder(b *testing.B) {
	const n = 2000
	var stream bytes.Buffer
	gen := sample.Generator{Namespaces: 100, Seed: 1}
	for i := range n {
		obj, err := stdjson.Marshal(map[string]any{"type": "ADDED", "object": gen.Template(i).Object})
		if err != nil {
			b.Fatal(err)
		}
		stream.Write(obj)
		stream.WriteByte('\n')
	}
	for _, name := range []string{"jsonread", "apimachinery"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(stream.Len()))
			b.ReportAllocs()
			for b.Loop() {
				r := io.NopCloser(bytes.NewReader(stream.Bytes()))
				var decode func() error
				if name == "jsonread" {
					d := newEventDecoder(r)
					decode = func() error { _, _, err := d.Decode(); return err }
				} else {
					d := refDecoder{dec: json.NewDecoderCaseSensitivePreserveInts(r)}
					decode = func() error { _, _, err := d.Decode(); return err }
				}
				for range n {
					if err := decode(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/event")
		})
	}
}
