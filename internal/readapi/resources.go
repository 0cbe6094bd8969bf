package readapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/readapi/fieldselector"
)

// errNoSuchPath is Kubernetes' 404 for a path it does not serve.
var errNoSuchPath = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
	Message: "the server could not find the requested resource",
}}

// readVerbs are the verbs the read API serves for mirrored kinds.
var readVerbs = metav1.Verbs{"get", "list"}

// resources serves the mirrored kinds under resourcesPath the way the Kubernetes API serves
// them: discovery documents, lists and single objects, as JSON or as a Table.
type resources struct {
	reader *reader
	tables *tables
}

// resourceRequest is a parsed resource request.
type resourceRequest struct {
	gv        schema.GroupVersion
	namespace string
	resource  string
	name      string
}

func (h *resources) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rest := strings.TrimPrefix(req.URL.Path, resourcesPath)
	parts := strings.FieldsFunc(rest, func(r rune) bool { return r == '/' })
	if req.Method != http.MethodGet {
		h.fail(w, req, apierrors.NewMethodNotSupported(schema.GroupResource{Group: queryv1alpha1.GroupName, Resource: "resources"}, req.Method))
		return
	}
	var r resourceRequest
	switch {
	case len(parts) == 1 && parts[0] == "api":
		// Discovery clients treat an empty version as an error, so v1 is listed only when a core
		// kind is mirrored.
		versions := []string{}
		if len(h.resourceList(schema.GroupVersion{Version: "v1"}).APIResources) > 0 {
			versions = append(versions, "v1")
		}
		h.write(w, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: versions})
		return
	case len(parts) == 1 && parts[0] == "apis":
		h.write(w, h.groups())
		return
	case len(parts) == 2 && parts[0] == "api" && parts[1] == "v1":
		h.write(w, h.resourceList(schema.GroupVersion{Version: "v1"}))
		return
	case len(parts) == 2 && parts[0] == "apis":
		for _, g := range h.groups().Groups {
			if g.Name == parts[1] {
				g.Kind, g.APIVersion = "APIGroup", "v1"
				h.write(w, &g)
				return
			}
		}
		h.fail(w, req, errNoSuchPath)
		return
	case len(parts) == 3 && parts[0] == "apis":
		h.write(w, h.resourceList(schema.GroupVersion{Group: parts[1], Version: parts[2]}))
		return
	case len(parts) > 2 && parts[0] == "api" && parts[1] == "v1":
		r.gv, parts = schema.GroupVersion{Version: "v1"}, parts[2:]
	case len(parts) > 3 && parts[0] == "apis":
		r.gv, parts = schema.GroupVersion{Group: parts[1], Version: parts[2]}, parts[3:]
	default:
		h.fail(w, req, errNoSuchPath)
		return
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		r.namespace, parts = parts[1], parts[2:]
	}
	switch len(parts) {
	case 1:
		r.resource = parts[0]
	case 2:
		r.resource, r.name = parts[0], parts[1]
	default:
		h.fail(w, req, errNoSuchPath)
		return
	}
	if err := h.serve(w, req, r); err != nil {
		h.fail(w, req, err)
	}
}

// serve answers a list or a get of a mirrored kind.
func (h *resources) serve(w http.ResponseWriter, req *http.Request, r resourceRequest) error {
	ctx := req.Context()
	k, err := h.reader.kinds.byResource(r.gv, r.resource)
	if err != nil {
		return err
	}
	if r.namespace != "" && !k.resource.Namespaced {
		return apierrors.NewNotFound(k.gvr().GroupResource(), "")
	}
	params := req.URL.Query()
	if w := params.Get("watch"); w == "true" || w == "1" {
		return apierrors.NewMethodNotSupported(k.gvr().GroupResource(), "watch")
	}
	verb := "list"
	if r.name != "" {
		verb = "get"
	}
	if err := h.reader.access.allow(ctx, verb, r.namespace, k); err != nil {
		return err
	}
	spec, token, err := listSpec(params)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	spec.GVK = k.gvk
	if r.namespace != "" {
		spec.Namespaces = []string{r.namespace}
	}
	if r.name != "" {
		spec.Names, spec.Limit, token = []string{r.name}, 1, ""
	}
	q, err := query.Compile(spec)
	if err != nil {
		return apierrors.NewBadRequest(listParamMessage(err, params.Get("fieldSelector")))
	}
	if !k.state.Synced {
		return notSynced(k)
	}
	page, err := h.reader.search(ctx, k, q, token, true)
	if err != nil {
		return err
	}
	if r.name != "" && len(page.Documents) == 0 {
		return apierrors.NewNotFound(k.gvr().GroupResource(), r.name)
	}
	if wantsTable(req.Header.Get("Accept")) {
		list, err := decodeList(page)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		if r.name == "" {
			list.SetContinue(page.Continue)
			if page.Continue != "" {
				n := page.Remaining
				list.SetRemainingItemCount(&n)
			}
		}
		tbl, err := h.tables.table(ctx, k.gvr(), list,
			metav1.IncludeObjectPolicy(params.Get("includeObject")), false)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		h.write(w, tbl)
		return nil
	}
	if r.name != "" {
		writeJSON(w, http.StatusOK, page.Documents[0])
		return nil
	}
	writeJSON(w, http.StatusOK, listJSON(k, page))
	return nil
}

// listSpec reads the query parameters of a list: labelSelector, fieldSelector (see
// parseFieldSelector), limit, continue, and the extras sort ("-" before a path sorts descending)
// and nameContains.
func listSpec(params url.Values) (query.Spec, string, error) {
	var spec query.Spec
	if s := params.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return spec, "", fmt.Errorf("labelSelector: %w", err)
		}
		spec.Labels = sel
	}
	clauses, err := fieldselector.Parse(params.Get("fieldSelector"))
	if err != nil {
		return spec, "", fmt.Errorf("fieldSelector: %w", err)
	}
	for _, c := range clauses {
		spec.Fields = append(spec.Fields, query.FieldPredicate{Path: c.Path, Operator: query.Operator(c.Operator), Values: c.Values})
	}
	spec.Limit = query.MaxLimit
	if s := params.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return spec, "", fmt.Errorf("limit: %q is not a non-negative integer", s)
		}
		if n > 0 && n < query.MaxLimit {
			spec.Limit = int(n)
		}
	}
	if s := params.Get("sort"); s != "" {
		for _, key := range strings.Split(s, ",") {
			key = strings.TrimSpace(key)
			desc := strings.HasPrefix(key, "-")
			spec.Sort = append(spec.Sort, query.SortKey{Path: strings.TrimPrefix(key, "-"), Descending: desc})
		}
	}
	spec.NameContains = params.Get("nameContains")
	return spec, params.Get("continue"), nil
}

// listParamMessage words a compile error in terms of the list's query parameters.
func listParamMessage(err error, fieldSelector string) string {
	var qe *query.Error
	if !errors.As(err, &qe) {
		return err.Error()
	}
	field := qe.Field
	switch {
	case strings.HasPrefix(field, "fields["):
		i, _ := strconv.Atoi(field[len("fields["):strings.IndexByte(field, ']')])
		clauses, _ := fieldselector.Parse(fieldSelector)
		pos := 0
		if i < len(clauses) {
			pos = clauses[i].Pos
		}
		return fmt.Sprintf("fieldSelector: position %d: %s", pos, qe.Msg)
	case strings.HasPrefix(field, "labels"):
		return "labelSelector: " + qe.Msg
	case strings.HasPrefix(field, "sort"):
		return "sort: " + qe.Msg
	case field == "continue":
		return "continue: " + qe.Msg
	}
	return qe.Error()
}

// listJSON writes a List of the page's documents without decoding them.
func listJSON(k mirroredKind, page index.Page) []byte {
	md := metav1.ListMeta{Continue: page.Continue}
	if page.Continue != "" {
		n := page.Remaining
		md.RemainingItemCount = &n
	}
	head, _ := json.Marshal(map[string]any{
		"apiVersion": k.gvk.GroupVersion().String(),
		"kind":       k.gvk.Kind + "List",
		"metadata":   md,
	})
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	b.WriteString(`,"items":[`)
	for i, doc := range page.Documents {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(doc)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func decodeList(page index.Page) (*unstructured.UnstructuredList, error) {
	list := &unstructured.UnstructuredList{Object: map[string]any{}}
	for _, doc := range page.Documents {
		var u unstructured.Unstructured
		if err := u.UnmarshalJSON(doc); err != nil {
			return nil, fmt.Errorf("decoding a stored document: %w", err)
		}
		list.Items = append(list.Items, u)
	}
	return list, nil
}

// wantsTable reports whether the Accept header asks for a meta.k8s.io Table.
func wantsTable(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if strings.Contains(part, "as=Table") && strings.Contains(part, "g=meta.k8s.io") {
			return true
		}
	}
	return false
}

// groups is the discovery of the groups of the mirrored kinds. The core group is served under
// /api, as in Kubernetes.
func (h *resources) groups() *metav1.APIGroupList {
	out := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	seen := map[string]int{}
	for _, k := range h.reader.kinds.mirrored() {
		if k.gvk.Group == "" {
			continue
		}
		gv := metav1.GroupVersionForDiscovery{GroupVersion: k.gvk.GroupVersion().String(), Version: k.gvk.Version}
		i, ok := seen[k.gvk.Group]
		if !ok {
			seen[k.gvk.Group] = len(out.Groups)
			out.Groups = append(out.Groups, metav1.APIGroup{Name: k.gvk.Group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
			continue
		}
		g := &out.Groups[i]
		if g.Versions[len(g.Versions)-1] != gv {
			g.Versions = append(g.Versions, gv)
		}
	}
	return out
}

// resourceList is the discovery of one group-version: its mirrored kinds, readable only.
func (h *resources) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	out := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	out.APIResources = []metav1.APIResource{}
	for _, k := range h.reader.kinds.mirrored() {
		if k.gvk.GroupVersion() != gv {
			continue
		}
		r := k.resource
		r.Verbs = readVerbs
		r.StorageVersionHash = ""
		out.APIResources = append(out.APIResources, r)
	}
	return out
}

// write answers 200 with obj as JSON.
func (h *resources) write(w http.ResponseWriter, obj any) {
	b, err := json.Marshal(obj)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail writes err as a metav1.Status, the way the Kubernetes API reports errors.
func (h *resources) fail(w http.ResponseWriter, req *http.Request, err error) {
	responsewriters.ErrorNegotiated(err, codecs, schema.GroupVersion{Version: "v1"}, w, req)
}
