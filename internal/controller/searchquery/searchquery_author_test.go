package searchquery

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

func TestAuthorOf(t *testing.T) {
	full := func(groups, extra string) map[string]string {
		return map[string]string{
			searchv1alpha1.AnnotationAuthor:       "alice",
			searchv1alpha1.AnnotationAuthorUID:    "u-1",
			searchv1alpha1.AnnotationAuthorGroups: groups,
			searchv1alpha1.AnnotationAuthorExtra:  extra,
		}
	}
	cases := []struct {
		name        string
		annotations map[string]string
		want        author
		noAuthor    bool
		wantErr     bool
	}{
		{name: "missing", annotations: nil, noAuthor: true},
		{name: "empty user name", annotations: map[string]string{searchv1alpha1.AnnotationAuthor: ""}, noAuthor: true},
		{name: "the empty record of a query written before the policies", noAuthor: true, annotations: map[string]string{
			searchv1alpha1.AnnotationAuthor: "", searchv1alpha1.AnnotationAuthorUID: "",
			searchv1alpha1.AnnotationAuthorGroups: "[]", searchv1alpha1.AnnotationAuthorExtra: "{}"}},
		{name: "a user name without the rest of the record", noAuthor: true,
			annotations: map[string]string{searchv1alpha1.AnnotationAuthor: "alice"}},
		{
			name:        "as the policy writes it",
			annotations: full(`["team-a","system:authenticated"]`, `{"authentication.kubernetes.io/credential-id":["JTI=1"],"scopes":[]}`),
			want: author{username: "alice", uid: "u-1", groups: []string{"team-a", "system:authenticated"},
				extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=1"}, "scopes": {}}},
		},
		{name: "no groups or extra", annotations: full(`[]`, `{}`),
			want: author{username: "alice", uid: "u-1", groups: []string{}, extra: map[string][]string{}}},
		{
			name:        "quotes, commas and brackets inside values",
			annotations: full(`["a\",\"system:masters","b]","c\\\n"]`, `{"k\":[\"x":["v],","w"]}`),
			want: author{username: "alice", uid: "u-1", groups: []string{`a","system:masters`, "b]", "c\\\n"},
				extra: map[string][]string{`k":["x`: {"v],", "w"}}},
		},
		{name: "groups not a list", annotations: full(`team-a`, `{}`), wantErr: true},
		{name: "unquoted group", annotations: full(`[team-a]`, `{}`), wantErr: true},
		{name: "trailing text after groups", annotations: full(`["a"]["system:masters"]`, `{}`), wantErr: true},
		{name: "unterminated groups", annotations: full(`["a"`, `{}`), wantErr: true},
		{name: "extra not a map", annotations: full(`[]`, `["a"]`), wantErr: true},
		{name: "extra key twice", annotations: full(`[]`, `{"k":[],"k":["v"]}`), wantErr: true},
		{name: "trailing text after extra", annotations: full(`[]`, `{"k":[]}x`), wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := authorOf(tc.annotations)
			switch {
			case tc.noAuthor:
				g.Expect(errors.Is(err, errNoAuthor)).To(BeTrue(), "%v", err)
			case tc.wantErr:
				g.Expect(err).To(HaveOccurred())
				g.Expect(errors.Is(err, errNoAuthor)).To(BeFalse())
			default:
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tc.want))
			}
		})
	}
}

// FuzzAuthorAnnotations checks that decoding never panics, and that whatever decodes encodes
// back to a value that decodes to the same author: two different authors never share a record.
func FuzzAuthorAnnotations(f *testing.F) {
	f.Add(`["team-a","system:authenticated"]`, `{"k":["v"]}`)
	f.Add(`["a\",\"b"]`, `{"k\":[":["]"]}`)
	f.Add(`[]`, `{}`)
	f.Add(`["\a\v\x00"]`, `{"":[""]}`)
	f.Fuzz(func(t *testing.T, groups, extra string) {
		a, err := authorOf(map[string]string{
			searchv1alpha1.AnnotationAuthor:       "u",
			searchv1alpha1.AnnotationAuthorGroups: groups,
			searchv1alpha1.AnnotationAuthorExtra:  extra,
		})
		if err != nil {
			return
		}
		b, err := authorOf(map[string]string{
			searchv1alpha1.AnnotationAuthor:       "u",
			searchv1alpha1.AnnotationAuthorGroups: encodeList(a.groups),
			searchv1alpha1.AnnotationAuthorExtra:  encodeExtra(a.extra),
		})
		if err != nil {
			t.Fatalf("re-encoded %q %q does not decode: %v", encodeList(a.groups), encodeExtra(a.extra), err)
		}
		if a.key() != b.key() {
			t.Fatalf("decoded %#v, re-decoded %#v", a, b)
		}
	})
}
