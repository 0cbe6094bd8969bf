package index

import (
	"encoding/json"
	"math"
	"strings"
)

// resolve returns the values the path selects in doc. Missing keys select nothing; a JSON
// null is selected as nil.
func resolve(doc any, segs []segment, out []any) []any {
	if len(segs) == 0 {
		return append(out, doc)
	}
	s := segs[0]
	switch s.kind {
	case segKey:
		m, ok := doc.(map[string]any)
		if !ok {
			return out
		}
		v, ok := m[s.key]
		if !ok {
			return out
		}
		return resolve(v, segs[1:], out)
	case segWildcard:
		l, ok := doc.([]any)
		if !ok {
			return out
		}
		for _, e := range l {
			out = resolve(e, segs[1:], out)
		}
		return out
	case segKeyed:
		l, ok := doc.([]any)
		if !ok {
			return out
		}
		want := newTypedValue(s.value)
		for _, e := range l {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if v, ok := m[s.key]; ok && valueEquals(v, want) {
				out = resolve(e, segs[1:], out)
			}
		}
		return out
	}
	return out
}

// matches evaluates the predicate on an object's content.
func (p predicate) matches(obj map[string]any) bool {
	vals := resolve(obj, p.path.segs, nil)
	any := false
	for _, v := range vals {
		if p.matchValue(v) {
			any = true
			break
		}
	}
	return any != p.negate
}

func (p predicate) matchValue(v any) bool {
	switch p.op {
	case OpExists:
		return v != nil
	case OpIn:
		for _, w := range p.values {
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
		for _, w := range p.values {
			if p.op == OpContains && strings.Contains(s, w.s) || p.op == OpStartsWith && strings.HasPrefix(s, w.s) {
				return true
			}
		}
		return false
	case OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		c, ok := compareValue(v, p.values[0])
		if !ok {
			return false
		}
		switch p.op {
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

// number converts a decoded JSON number to int64 (exact) or float64.
func number(v any) (i int64, f float64, isInt, ok bool) {
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
		return number(float64(n))
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, float64(i), true, true
		}
		if f, err := n.Float64(); err == nil {
			return number(f)
		}
	}
	return 0, 0, false, false
}

func valueEquals(v any, w typedValue) bool {
	switch x := v.(type) {
	case string:
		return x == w.s
	case bool:
		return x && w.isTrue || !x && w.isFalse
	}
	i, f, isInt, ok := number(v)
	if !ok || !w.isNum {
		return false
	}
	if isInt && w.isInt {
		return i == w.i
	}
	return f == w.f
}

// compareValue orders a stored value against a user value: numerically when both are
// numbers, lexicographically (bytewise) when the stored value is a string. Other stored
// types do not compare.
func compareValue(v any, w typedValue) (int, bool) {
	if s, ok := v.(string); ok {
		return strings.Compare(s, w.s), true
	}
	if _, ok := v.(bool); ok {
		return 0, false
	}
	i, f, isInt, ok := number(v)
	if !ok || !w.isNum {
		return 0, false
	}
	if isInt && w.isInt {
		switch {
		case i < w.i:
			return -1, true
		case i > w.i:
			return 1, true
		}
		return 0, true
	}
	switch {
	case f < w.f:
		return -1, true
	case f > w.f:
		return 1, true
	}
	return 0, true
}
