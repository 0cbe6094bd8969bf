package searchquery

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// errNoAuthor means a query carries no author annotations: the admission policies in
// config/admission did not run when its spec was written.
var errNoAuthor = errors.New("no author recorded")

// author is the user who last wrote a query's spec, as the admission policy recorded it.
type author struct {
	username string
	uid      string
	groups   []string
	extra    map[string][]string
}

// key identifies the author in the access cache. It is unambiguous because every part is quoted.
func (a author) key() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(a.username))
	b.WriteString(strconv.Quote(a.uid))
	b.WriteString(encodeList(a.groups))
	b.WriteString(encodeExtra(a.extra))
	return b.String()
}

// authorAnnotations are the annotations of an author record. The mutating policy always writes
// all of them; a record that lacks one was written while the policies were not enforced.
var authorAnnotations = []string{
	searchv1alpha1.AnnotationAuthor, searchv1alpha1.AnnotationAuthorUID,
	searchv1alpha1.AnnotationAuthorGroups, searchv1alpha1.AnnotationAuthorExtra,
}

// authorOf reads the author annotations of a query. It returns an error wrapping errNoAuthor when
// the user name is empty or an annotation of the record is missing, and a plain error when an
// annotation is malformed.
func authorOf(annotations map[string]string) (author, error) {
	for _, k := range authorAnnotations {
		if _, ok := annotations[k]; !ok {
			return author{}, fmt.Errorf("%w: annotation %s is missing", errNoAuthor, k)
		}
	}
	name := annotations[searchv1alpha1.AnnotationAuthor]
	if name == "" {
		return author{}, fmt.Errorf("%w: annotation %s is empty", errNoAuthor, searchv1alpha1.AnnotationAuthor)
	}
	a := author{username: name, uid: annotations[searchv1alpha1.AnnotationAuthorUID]}
	var err error
	if a.groups, err = decodeList(annotations[searchv1alpha1.AnnotationAuthorGroups]); err != nil {
		return author{}, fmt.Errorf("annotation %s: %w", searchv1alpha1.AnnotationAuthorGroups, err)
	}
	if a.extra, err = decodeExtra(annotations[searchv1alpha1.AnnotationAuthorExtra]); err != nil {
		return author{}, fmt.Errorf("annotation %s: %w", searchv1alpha1.AnnotationAuthorExtra, err)
	}
	return a, nil
}

// The annotations hold lists and maps of strings quoted by CEL's strings.quote, which escapes
// backslashes, double quotes and control characters the way Go does, so strconv unquotes them.
// An empty annotation is an empty list or map.

// decodeList parses ["a","b"].
func decodeList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	out, rest, err := parseList(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q after ]", rest)
	}
	return out, nil
}

// parseList parses the list at the start of s and returns the rest.
func parseList(s string) ([]string, string, error) {
	rest, ok := strings.CutPrefix(s, "[")
	if !ok {
		return nil, "", fmt.Errorf("expected [ at %q", s)
	}
	out := []string{}
	if rest, ok = strings.CutPrefix(rest, "]"); ok {
		return out, rest, nil
	}
	for {
		v, after, err := unquotePrefix(rest)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
		if rest, ok = strings.CutPrefix(after, "]"); ok {
			return out, rest, nil
		}
		if rest, ok = strings.CutPrefix(after, ","); !ok {
			return nil, "", fmt.Errorf("expected , or ] at %q", after)
		}
	}
}

// decodeExtra parses {"k":["v"],"l":[]}.
func decodeExtra(s string) (map[string][]string, error) {
	if s == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(s, "{")
	if !ok {
		return nil, fmt.Errorf("expected { at %q", s)
	}
	out := map[string][]string{}
	if rest, ok = strings.CutPrefix(rest, "}"); ok {
		if rest != "" {
			return nil, fmt.Errorf("unexpected %q after }", rest)
		}
		return out, nil
	}
	for {
		k, after, err := unquotePrefix(rest)
		if err != nil {
			return nil, err
		}
		if after, ok = strings.CutPrefix(after, ":"); !ok {
			return nil, fmt.Errorf("expected : at %q", after)
		}
		vals, after, err := parseList(after)
		if err != nil {
			return nil, fmt.Errorf("values of %q: %w", k, err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %q appears twice", k)
		}
		out[k] = vals
		if rest, ok = strings.CutPrefix(after, "}"); ok {
			if rest != "" {
				return nil, fmt.Errorf("unexpected %q after }", rest)
			}
			return out, nil
		}
		if rest, ok = strings.CutPrefix(after, ","); !ok {
			return nil, fmt.Errorf("expected , or } at %q", after)
		}
	}
}

// unquotePrefix unquotes the double-quoted string at the start of s and returns the rest.
func unquotePrefix(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", fmt.Errorf("expected a double-quoted string at %q", s)
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("malformed string at %q: %w", s, err)
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", "", fmt.Errorf("malformed string %s: %w", q, err)
	}
	return v, s[len(q):], nil
}

// encodeList writes a list the way decodeList reads it.
func encodeList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// encodeExtra writes a map the way decodeExtra reads it, keys sorted.
func encodeExtra(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strconv.Quote(k) + ":" + encodeList(m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
