// Command kubectl-sift is a kubectl plugin that asks kubesift's index a question and prints the
// answer as a table: kubectl sift templates -n team-a -l tier=frontend --where 'spec.replicas>3'
// --sort=-metadata.creationTimestamp --limit 20. It sends a Search (or, with -A, a ClusterSearch)
// to the read API, query.kubesift.io, of the current kubeconfig context.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/readapi/fieldselector"
)

const usage = `Ask kubesift's index a question and print the matching objects.

Usage:
  kubectl sift RESOURCE [-n NAMESPACE | -A] [-l SELECTOR] [--where EXPR]... [--sort PATH,...]
               [--name-contains TEXT] [--limit N] [--continue TOKEN] [-o json|yaml|name]

--where takes field selector syntax over any path of the query grammar, for example
'spec.replicas>3', 'status.conditions[type=Ready].status=True' or 'spec.tier in (a,b)'.
--sort takes paths, "-" in front sorts descending. See docs/read-api.md.

Flags:
`

// options are the parsed command line.
type options struct {
	resource, namespace, selector, sort, nameContains, continueToken, output string
	kubeconfig, context                                                      string
	allNamespaces                                                            bool
	limit                                                                    int
	where                                                                    []string
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("kubectl sift", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&o.namespace, "n", "", "The namespace to search; default the context's namespace.")
	fs.StringVar(&o.namespace, "namespace", "", "Same as -n.")
	fs.BoolVar(&o.allNamespaces, "A", false, "Search every namespace (a ClusterSearch).")
	fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "Same as -A.")
	fs.StringVar(&o.selector, "l", "", "A label selector.")
	fs.StringVar(&o.selector, "selector", "", "Same as -l.")
	fs.Func("where", "A field condition; repeat to AND several.", func(s string) error {
		o.where = append(o.where, s)
		return nil
	})
	fs.StringVar(&o.sort, "sort", "", "Comma-separated sort paths; a leading - sorts descending.")
	fs.StringVar(&o.nameContains, "name-contains", "", "Keep names that contain this text, ignoring case.")
	fs.IntVar(&o.limit, "limit", 20, "The page size (1..500).")
	fs.StringVar(&o.continueToken, "continue", "", "The token of the next page, as printed after a page.")
	fs.StringVar(&o.output, "o", "", "Output format: json, yaml or name; default a table.")
	fs.StringVar(&o.output, "output", "", "Same as -o.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "The kubeconfig file; default $KUBECONFIG or ~/.kube/config.")
	fs.StringVar(&o.context, "context", "", "The kubeconfig context; default the current one.")
	// Flags may follow the resource, as with kubectl.
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		args = fs.Args()
		if len(args) > 0 {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	if len(positional) != 1 {
		fs.Usage()
		return o, errors.New("name exactly one resource, for example: kubectl sift templates")
	}
	o.resource = positional[0]
	switch o.output {
	case "", "json", "yaml", "name":
	default:
		return o, fmt.Errorf("unknown output format %q: use json, yaml or name", o.output)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = o.kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := kc.ClientConfig()
	if err != nil {
		return err
	}
	if o.namespace == "" {
		if o.namespace, _, err = kc.Namespace(); err != nil {
			return err
		}
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	cached := memory.NewMemCacheClient(disc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	gvk, err := mapper.KindFor(schema.GroupVersionResource{Resource: o.resource})
	if err != nil {
		return fmt.Errorf("resolving %q: %w", o.resource, err)
	}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	spec, columns, err := querySpec(o, gvk)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	status, err := search(ctx, dyn, o, spec)
	if err != nil {
		return err
	}
	objects := make([]*unstructured.Unstructured, 0, len(status.Objects))
	for _, raw := range status.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			return fmt.Errorf("decoding an object of the answer: %w", err)
		}
		objects = append(objects, u)
	}
	// -o name prints kind.group/name, as kubectl does.
	kind := schema.GroupKind{Group: mapping.GroupVersionKind.Group, Kind: strings.ToLower(mapping.GroupVersionKind.Kind)}
	return print(out, o, kind, columns, status, objects)
}

// querySpec turns the flags into the spec of a Search and lists the paths to show as columns.
func querySpec(o options, gvk schema.GroupVersionKind) (searchv1alpha1.QuerySpec, []string, error) {
	spec := searchv1alpha1.QuerySpec{
		Target:       searchv1alpha1.TargetRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind},
		NameContains: o.nameContains,
		Limit:        int32(o.limit), //nolint:gosec // the server checks the range
		Continue:     o.continueToken,
	}
	var columns []string
	addColumn := func(path string) {
		for _, c := range columns {
			if c == path {
				return
			}
		}
		if path != "metadata.name" && path != "metadata.namespace" && path != "metadata.creationTimestamp" {
			columns = append(columns, path)
		}
	}
	if o.selector != "" {
		sel, err := metav1.ParseToLabelSelector(o.selector)
		if err != nil {
			return spec, nil, fmt.Errorf("-l: %w", err)
		}
		spec.LabelSelector = sel
	}
	for _, w := range o.where {
		clauses, err := fieldselector.Parse(w)
		if err != nil {
			return spec, nil, fmt.Errorf("--where %q: %w", w, err)
		}
		for _, c := range clauses {
			spec.Fields = append(spec.Fields, searchv1alpha1.FieldPredicate{Path: c.Path, Operator: c.Operator, Values: c.Values})
			addColumn(c.Path)
		}
	}
	if o.sort != "" {
		for _, key := range strings.Split(o.sort, ",") {
			key = strings.TrimSpace(key)
			order := searchv1alpha1.SortAscending
			if strings.HasPrefix(key, "-") {
				order, key = searchv1alpha1.SortDescending, key[1:]
			}
			spec.Sort = append(spec.Sort, searchv1alpha1.SortKey{Path: key, Order: order})
			addColumn(key)
		}
	}
	return spec, columns, nil
}

var (
	searchesGVR        = queryv1alpha1.GroupVersion.WithResource("searches")
	clusterSearchesGVR = queryv1alpha1.GroupVersion.WithResource("clustersearches")
)

// search sends the spec as a Search (or a ClusterSearch with -A) and returns the answer.
func search(ctx context.Context, dyn dynamic.Interface, o options, spec searchv1alpha1.QuerySpec) (*queryv1alpha1.SearchStatus, error) {
	var obj runtime.Object
	res := dyn.Resource(searchesGVR).Namespace(o.namespace)
	if o.allNamespaces {
		obj = &queryv1alpha1.ClusterSearch{
			TypeMeta: metav1.TypeMeta{APIVersion: queryv1alpha1.GroupVersion.String(), Kind: "ClusterSearch"},
			Spec: queryv1alpha1.ClusterSearchSpec{
				ClusterSearchQuerySpec: searchv1alpha1.ClusterSearchQuerySpec{QuerySpec: spec},
				Output:                 queryv1alpha1.OutputObjects,
			},
		}
		res = dyn.Resource(clusterSearchesGVR)
	} else {
		obj = &queryv1alpha1.Search{
			TypeMeta: metav1.TypeMeta{APIVersion: queryv1alpha1.GroupVersion.String(), Kind: "Search"},
			Spec:     queryv1alpha1.SearchSpec{QuerySpec: spec, Output: queryv1alpha1.OutputObjects},
		}
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	answer, err := res.Create(ctx, &unstructured.Unstructured{Object: content}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	var got queryv1alpha1.Search // Search and ClusterSearch share the status
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(answer.Object, &got); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == searchv1alpha1.ConditionReady && c.Status != metav1.ConditionTrue {
			return nil, fmt.Errorf("%s: %s", c.Reason, c.Message)
		}
	}
	return &got.Status, nil
}

// print writes the answer as -o asks.
func print(out io.Writer, o options, kind schema.GroupKind, columns []string, st *queryv1alpha1.SearchStatus,
	objects []*unstructured.Unstructured) error {
	switch o.output {
	case "name":
		for _, u := range objects {
			_, _ = fmt.Fprintf(out, "%s/%s\n", kind.String(), u.GetName())
		}
		return nil
	case "json", "yaml":
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objects,
			"metadata": map[string]any{"continue": st.Continue, "remainingItemCount": st.Remaining}}
		var b []byte
		var err error
		if o.output == "json" {
			b, err = json.MarshalIndent(list, "", "    ")
			b = append(b, '\n')
		} else {
			b, err = yaml.Marshal(list)
		}
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	header := []string{}
	if o.allNamespaces {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME", "AGE")
	paths := make([]*jsonpath.JSONPath, len(columns))
	for i, c := range columns {
		header = append(header, strings.ToUpper(c))
		paths[i] = jsonpath.New(c).AllowMissingKeys(true)
		if err := paths[i].Parse(toJSONPath(c)); err != nil {
			return fmt.Errorf("column %s: %w", c, err)
		}
	}
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, u := range objects {
		row := []string{}
		if o.allNamespaces {
			row = append(row, u.GetNamespace())
		}
		age := "<unknown>"
		if t := u.GetCreationTimestamp(); !t.IsZero() {
			age = duration.HumanDuration(time.Since(t.Time))
		}
		row = append(row, u.GetName(), age)
		for _, p := range paths {
			var b strings.Builder
			if err := p.Execute(&b, u.Object); err != nil || b.Len() == 0 {
				row = append(row, "<none>")
				continue
			}
			row = append(row, b.String())
		}
		_, _ = fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Continue != "" {
		_, _ = fmt.Fprintf(out, "%d of %d, %d more: --continue %s\n", st.Count, st.Total, st.Remaining, st.Continue)
	} else {
		_, _ = fmt.Fprintf(out, "%d of %d\n", st.Count, st.Total)
	}
	return nil
}

// toJSONPath turns a query path into a kubectl JSONPath template: a keyed element [type=Ready]
// becomes the filter [?(@.type=="Ready")]; dots, quoted keys and [*] read the same in both.
func toJSONPath(path string) string {
	var b strings.Builder
	b.WriteString("{.")
	for i := 0; i < len(path); i++ {
		if path[i] != '[' || i+1 >= len(path) || path[i+1] == '*' || path[i+1] == '\'' {
			b.WriteByte(path[i])
			continue
		}
		end := strings.IndexByte(path[i:], ']')
		if end < 0 {
			b.WriteString(path[i:])
			break
		}
		key, value, ok := strings.Cut(path[i+1:i+end], "=")
		if !ok {
			b.WriteString(path[i : i+end+1])
		} else {
			fmt.Fprintf(&b, "[?(@.%s==%q)]", key, strings.Trim(value, "'"))
		}
		i += end
	}
	b.WriteString("}")
	return b.String()
}
