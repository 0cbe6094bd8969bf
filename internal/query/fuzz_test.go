package query

import (
	"errors"
	"testing"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"spec.replicas", "metadata.annotations['example.com/team']", "spec.containers[*].image",
		"status.conditions[type=Ready].status", "a[b='x y'][*]", "spec.%x", "['a", "a[", "a.b.", "ä", "a[b=']']"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error does not wrap ErrInvalidPath: %v", err)
			}
			return
		}
		// The canonical form parses back to itself.
		canon := p.String()
		p2, err := ParsePath(canon)
		if err != nil || p2.String() != canon {
			t.Fatalf("canonical %q of %q does not round-trip: %v", canon, s, err)
		}
	})
}
