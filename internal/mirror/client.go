package mirror

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// NewRESTClient returns the client that NewListerWatcher needs: a REST client of the dynamic
// API (JSON, unstructured objects). A nil httpClient makes one from cfg.
func NewRESTClient(cfg *rest.Config, httpClient *http.Client) (rest.Interface, error) {
	cfg = dynamic.ConfigFor(cfg)
	if httpClient == nil {
		var err error
		if httpClient, err = rest.HTTPClientFor(cfg); err != nil {
			return nil, err
		}
	}
	return rest.UnversionedRESTClientForConfigAndClient(cfg, httpClient)
}

// NewListerWatcher lists and watches a resource in all namespaces. It lists through the
// dynamic client, and decodes watch events, which carry the streamed lists, with
// eventDecoder. client comes from NewRESTClient.
func NewListerWatcher(client rest.Interface, gvr schema.GroupVersionResource) toolscache.ListerWatcherWithContext {
	res := dynamic.New(client).Resource(gvr)
	path := []string{"apis", gvr.Group, gvr.Version, gvr.Resource}
	if gvr.Group == "" {
		path = []string{"api", gvr.Version, gvr.Resource}
	}
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return res.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			body, err := client.Get().AbsPath(path...).
				SpecificallyVersionedParams(&opts, parameterCodec, versionV1).
				Stream(ctx)
			if err != nil {
				return nil, err
			}
			return watch.NewStreamWatcherWithLogger(klog.FromContext(ctx), newEventDecoder(body),
				// As client-go's watches report an event they cannot decode.
				apierrors.NewClientErrorReporter(http.StatusInternalServerError, http.MethodGet, "ClientWatchDecoding")), nil
		},
	}
}

// The query parameters of the dynamic API, as the dynamic client encodes them.
var (
	versionV1       = schema.GroupVersion{Version: "v1"}
	parameterScheme = runtime.NewScheme()
	parameterCodec  = runtime.NewParameterCodec(parameterScheme)
)

func init() {
	metav1.AddToGroupVersion(parameterScheme, versionV1)
}

// eventDecoder decodes a JSON watch stream into events of unstructured objects, reading
// each event once to find its end and once to decode it (jsonread.go). client-go's watch
// decoder reads each one five times or more: to frame it, to find its kind, to decode the
// event with the object left raw, to validate the raw object and to decode it. A streamed
// list is all watch events, so this is most of the cost of listing a kind.
type eventDecoder struct {
	body io.ReadCloser
	in   *jsonStream
}

func newEventDecoder(body io.ReadCloser) *eventDecoder {
	return &eventDecoder{body: body, in: newJSONStream(body)}
}

// Decode returns the next event; io.EOF at the end of the stream.
func (d *eventDecoder) Decode() (watch.EventType, runtime.Object, error) {
	raw, err := d.in.next()
	if err != nil {
		return "", nil, err
	}
	typ, obj, err := decodeEvent(raw, d.in.keys)
	if err != nil {
		return "", nil, err
	}
	switch typ {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error:
	default:
		return "", nil, fmt.Errorf("got invalid watch event type: %v", typ)
	}
	if obj == nil {
		return "", nil, fmt.Errorf("a %s watch event without an object", typ)
	}
	return typ, &unstructured.Unstructured{Object: obj}, nil
}

// decodeEvent decodes a watch event as the API server writes it (metav1.WatchEvent): its
// type and its object; other keys are checked and dropped.
func decodeEvent(raw []byte, keys map[string]string) (watch.EventType, map[string]any, error) {
	p := jsonParser{b: raw, src: string(raw), keys: keys}
	p.skipSpace()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return "", nil, p.syntaxError("a watch event must be a JSON object")
	}
	var typ watch.EventType
	var obj map[string]any
	err := p.members(func(key string) error {
		v, err := p.value()
		if err != nil {
			return err
		}
		switch key {
		case "type":
			switch t := v.(type) {
			case string:
				typ = watch.EventType(t)
			case nil:
			default:
				return fmt.Errorf("a watch event's type is a %T, want a string", v)
			}
		case "object":
			switch o := v.(type) {
			case map[string]any:
				if obj == nil {
					obj = o
				} else {
					maps.Copy(obj, o) // as encoding/json fills a map it already has
				}
			case nil:
				obj = nil
			default:
				return fmt.Errorf("a watch event's object is a %T, want an object", v)
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return "", nil, p.syntaxError("after a watch event")
	}
	return typ, obj, nil
}

// Close closes the stream.
func (d *eventDecoder) Close() { _ = d.body.Close() }
