package readapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
		h.serveDiscovery(w, req, h.coreVersions)
		return
	case len(parts) == 1 && parts[0] == "apis":
		h.serveDiscovery(w, req, h.groups)
		return
	case len(parts) == 2 && parts[0] == "api" && parts[1] == "v1":
		h.serveDiscovery(w, req, func() (any, error) { return h.resourceList(schema.GroupVersion{Version: "v1"}) })
		return
	case len(parts) == 2 && parts[0] == "apis":
		h.serveDiscovery(w, req, func() (any, error) { return h.group(parts[1]) })
		return
	case len(parts) == 3 && parts[0] == "apis":
		h.serveDiscovery(w, req, func() (any, error) {
			return h.resourceList(schema.GroupVersion{Group: parts[1], Version: parts[2]})
		})
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
	verb := "list"
	if r.name != "" {
		verb = "get"
	}
	// Access first: a caller who may not read the resource gets 403 whether or not the cluster
	// serves it and the index mirrors it, as from the Kubernetes API.
	if err := h.reader.access.allow(ctx, verb, r.namespace, r.gv.WithResource(r.resource)); err != nil {
		return err
	}
	res, err := h.reader.kinds.byResource(r.gv, r.resource)
	if err != nil {
		return err
	}
	if r.namespace != "" && !res.Namespaced {
		return apierrors.NewNotFound(r.gv.WithResource(r.resource).GroupResource(), "")
	}
	k, err := h.reader.kinds.mirrored(r.gv, res)
	if err != nil {
		return err
	}
	params := req.URL.Query()
	if w := params.Get("watch"); w == "true" || w == "1" {
		return apierrors.NewMethodNotSupported(k.gvr().GroupResource(), "watch")
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
	spec.Clusters = localOnly
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

// The discovery documents under resourcesPath repeat the cluster's own discovery, restricted to
// the resources that can be listed (and the group-versions that serve one), with the verbs get
// and list: every kind the cluster serves,
// mirrored or not. Every authenticated user may read the cluster's discovery, so these documents
// reveal nothing, in particular not which kinds the index mirrors; that is told only to a caller
// who may list the kind (a list of a kind no ResourceIndex mirrors is a 404 that names the
// ResourceIndex to create). And kubectl resolves every resource name and short name the cluster
// knows, so such a caller reaches that message instead of "the server doesn't have a resource
// type".

// serveDiscovery writes the discovery document that doc returns.
func (h *resources) serveDiscovery(w http.ResponseWriter, req *http.Request, doc func() (any, error)) {
	obj, err := doc()
	if err != nil {
		h.fail(w, req, err)
		return
	}
	h.write(w, obj)
}

// coreVersions is the discovery of /api.
func (h *resources) coreVersions() (any, error) {
	list, err := h.reader.kinds.serverGroups()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	out := &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{}}
	for _, g := range list.Groups {
		if g.Name == "" {
			for _, v := range g.Versions {
				out.Versions = append(out.Versions, v.Version)
			}
		}
	}
	return out, nil
}

// groups is the discovery of /apis: the cluster's named groups. The core group is served under
// /api, as in Kubernetes.
func (h *resources) groups() (any, error) {
	list, err := h.reader.kinds.serverGroups()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	out := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range list.Groups {
		if g.Name == "" {
			continue
		}
		if g, ok := h.listableVersions(g); ok {
			out.Groups = append(out.Groups, g)
		}
	}
	return out, nil
}

// listableVersions keeps the versions of g that serve a resource that can be listed (kubectl
// takes a version without resources for a failed discovery); ok is false when none is left.
func (h *resources) listableVersions(g metav1.APIGroup) (metav1.APIGroup, bool) {
	versions := make([]metav1.GroupVersionForDiscovery, 0, len(g.Versions))
	for _, v := range g.Versions {
		res, err := h.reader.kinds.resources(schema.GroupVersion{Group: g.Name, Version: v.Version})
		if err != nil || slices.ContainsFunc(res, listable) {
			// A version the cluster fails to describe now is kept: its own document says why.
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return g, false
	}
	g.Versions = versions
	if !slices.Contains(versions, g.PreferredVersion) {
		g.PreferredVersion = versions[0]
	}
	return g, true
}

func listable(r metav1.APIResource) bool { return slices.Contains(r.Verbs, "list") }

// group is the discovery of /apis/<name>.
func (h *resources) group(name string) (any, error) {
	list, err := h.reader.kinds.serverGroups()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	for _, g := range list.Groups {
		if g.Name == name && name != "" {
			if g, ok := h.listableVersions(g); ok {
				g.Kind, g.APIVersion = "APIGroup", "v1"
				return &g, nil
			}
		}
	}
	return nil, errNoSuchPath
}

// resourceList is the discovery of one group-version: the resources the cluster serves there
// that can be listed, readable only.
func (h *resources) resourceList(gv schema.GroupVersion) (any, error) {
	list, err := h.reader.kinds.serverGroups()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	served := slices.ContainsFunc(list.Groups, func(g metav1.APIGroup) bool {
		return g.Name == gv.Group && slices.ContainsFunc(g.Versions, func(v metav1.GroupVersionForDiscovery) bool {
			return v.Version == gv.Version
		})
	})
	if !served {
		return nil, errNoSuchPath
	}
	res, err := h.reader.kinds.resources(gv)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	if !slices.ContainsFunc(res, listable) {
		return nil, errNoSuchPath
	}
	out := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	out.APIResources = []metav1.APIResource{}
	for _, r := range res {
		if !listable(r) {
			continue
		}
		r.Verbs = readVerbs
		r.StorageVersionHash = ""
		out.APIResources = append(out.APIResources, r)
	}
	return out, nil
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
