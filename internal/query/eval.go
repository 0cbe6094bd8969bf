package query

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Select appends the values the path selects in doc to out. Missing keys select nothing;
// a JSON null is selected as nil.
func (p Path) Select(doc any, out []any) []any { return resolve(doc, p.segs, out) }

func resolve(doc any, segs []Segment, out []any) []any {
	if len(segs) == 0 {
		return append(out, doc)
	}
	s := segs[0]
	switch s.Kind {
	case SegmentKey:
		m, ok := doc.(map[string]any)
		if !ok {
			return out
		}
		v, ok := m[s.Key]
		if !ok {
			return out
		}
		return resolve(v, segs[1:], out)
	case SegmentWildcard:
		l, ok := doc.([]any)
		if !ok {
			return out
		}
		for _, e := range l {
			out = resolve(e, segs[1:], out)
		}
		return out
	case SegmentKeyed:
		l, ok := doc.([]any)
		if !ok {
			return out
		}
		want := NewValue(s.Value)
		for _, e := range l {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if v, ok := m[s.Key]; ok && valueEquals(v, want) {
				out = resolve(e, segs[1:], out)
			}
		}
		return out
	}
	return out
}

// matches evaluates the predicate on an object's content: true when any selected value
// satisfies the operator, inverted when Negate is set. Only predicates built by Compile get
// here, so the operator is one matchValue knows.
func (p Predicate) matches(obj map[string]any) bool {
	vals := p.Path.Select(obj, nil)
	found := false
	if p.From != nil {
		ref := p.From.Select(obj, nil)
		for _, v := range vals {
			if len(ref) == 1 && p.matchRef(v, ref[0]) {
				found = true
				break
			}
		}
		return found != p.Negate
	}
	for _, v := range vals {
		if p.matchValue(v) {
			found = true
			break
		}
	}
	return found != p.Negate
}

func (p Predicate) matchValue(v any) bool {
	switch p.Op {
	case OpExists:
		return v != nil
	case OpIn:
		for _, w := range p.Values {
			if valueEquals(v, w) {
				return true
			}
		}
		return false
	case OpContains, OpStartsWith:
		s, ok := v.(string)
		if !ok {
			return false
		}
		for _, w := range p.Values {
			if p.Op == OpContains && strings.Contains(s, w.Text) || p.Op == OpStartsWith && strings.HasPrefix(s, w.Text) {
				return true
			}
		}
		return false
	case OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		c, ok := compareValue(v, p.Values[0])
		if !ok {
			return false
		}
		switch p.Op {
		case OpGreaterThan:
			return c > 0
		case OpGreaterThanOrEqual:
			return c >= 0
		case OpLessThan:
			return c < 0
		default:
			return c <= 0
		}
	}
	return false
}

// matchRef compares v with ref, the value valueFrom selects, by their JSON types: numbers
// numerically, strings bytewise, booleans for equality only; values of different types, null,
// objects and lists neither equal nor compare.
func (p Predicate) matchRef(v, ref any) bool {
	c, ok := compareTyped(v, ref, p.Op == OpIn)
	if !ok {
		return false
	}
	switch p.Op {
	case OpIn:
		return c == 0
	case OpGreaterThan:
		return c > 0
	case OpGreaterThanOrEqual:
		return c >= 0
	case OpLessThan:
		return c < 0
	case OpLessThanOrEqual:
		return c <= 0
	}
	return false
}

// compareTyped orders two decoded JSON values of the same type; booleans only when equality
// is all that is asked.
func compareTyped(a, b any, equality bool) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case bool:
		y, ok := b.(bool)
		if !ok || !equality {
			return 0, false
		}
		if x == y {
			return 0, true
		}
		return 1, true
	case nil, map[string]any, []any:
		return 0, false
	}
	ai, af, aInt, ok := Number(a)
	if !ok {
		return 0, false
	}
	bi, bf, bInt, ok := Number(b)
	if !ok {
		return 0, false
	}
	if aInt && bInt {
		return cmpOrdered(ai, bi), true
	}
	return cmpOrdered(af, bf), true
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FacetValues appends to out the distinct texts (see FacetText) of the values the path
// selects in doc.
func (p Path) FacetValues(doc any, out []string) []string {
	for _, v := range p.Select(doc, nil) {
		if s, ok := FacetText(v); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// FacetText is the text under which facets count a value: strings as they are, booleans as
// "true" and "false", numbers in their shortest form ("3" for 3.0, "2.5"). null, objects and
// lists are not values. A string and a number with the same text count as one value, as a
// constant in Equals matches both.
func FacetText(v any) (string, bool) {
	switch x := v.(type) {
	case nil, map[string]any, []any:
		return "", false
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	}
	i, f, isInt, ok := Number(v)
	switch {
	case !ok:
		return "", false
	case isInt:
		return strconv.FormatInt(i, 10), true
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

// Number converts a decoded JSON number to int64 (exact) or float64.
func Number(v any) (i int64, f float64, isInt, ok bool) {
	switch n := v.(type) {
	case int64:
		return n, float64(n), true, true
	case int:
		return int64(n), float64(n), true, true
	case int32:
		return int64(n), float64(n), true, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
			// JSON encodes integral floats without a fraction and SQLite reads them back
			// as integers; compare them the same way.
			return int64(n), n, true, true
		}
		return 0, n, false, true
	case float32:
		return Number(float64(n))
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, float64(i), true, true
		}
		if f, err := n.Float64(); err == nil {
			return Number(f)
		}
	}
	return 0, 0, false, false
}

func valueEquals(v any, w Value) bool {
	switch x := v.(type) {
	case string:
		return x == w.Text
	case bool:
		return x && w.IsTrue || !x && w.IsFalse
	}
	i, f, isInt, ok := Number(v)
	if !ok || !w.IsNum {
		return false
	}
	if isInt && w.IsInt {
		return i == w.Int
	}
	return f == w.Float
}

// compareValue orders a stored value against a user Value: numerically when both are
// numbers, lexicographically (bytewise) when the stored value is a string. Other stored
// types do not compare.
func compareValue(v any, w Value) (int, bool) {
	if s, ok := v.(string); ok {
		return strings.Compare(s, w.Text), true
	}
	if _, ok := v.(bool); ok {
		return 0, false
	}
	i, f, isInt, ok := Number(v)
	if !ok || !w.IsNum {
		return 0, false
	}
	if isInt && w.IsInt {
		switch {
		case i < w.Int:
			return -1, true
		case i > w.Int:
			return 1, true
		}
		return 0, true
	}
	switch {
	case f < w.Float:
		return -1, true
	case f > w.Float:
		return 1, true
	}
	return 0, true
}
