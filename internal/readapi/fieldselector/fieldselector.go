// Package fieldselector parses the field selectors of the read API and the --where flags of
// kubectl sift: Kubernetes field selector syntax over any path of kubesift's query grammar, with
// kubesift's operators. It only splits a selector into clauses; the query compiler checks paths
// and values, so that both entry points report the same errors.
package fieldselector

import (
	"fmt"
	"strings"

	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
)

// Limits, as for a query spec.
const (
	MaxClauses = 50
	MaxValues  = 100
)

// Clause is one requirement of a selector.
type Clause struct {
	// Path is the path as written, in query path grammar.
	Path string
	// Operator compares the value at Path with Values.
	Operator searchv1alpha1.FieldOperator
	// Values are the operands; none for Exists and DoesNotExist.
	Values []string
	// Pos is the byte offset of the clause in the selector.
	Pos int
}

// Error is a selector that does not parse, with the byte position of the problem.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("position %d: %s", e.Pos, e.Msg) }

// symbolOps are the operators written as symbols, longest first so that ">=" wins over ">".
var symbolOps = []struct {
	text string
	op   searchv1alpha1.FieldOperator
}{
	{"==", searchv1alpha1.FieldOpEquals},
	{"!=", searchv1alpha1.FieldOpNotEquals},
	{">=", searchv1alpha1.FieldOpGreaterThanOrEqual},
	{"<=", searchv1alpha1.FieldOpLessThanOrEqual},
	{"^=", searchv1alpha1.FieldOpStartsWith},
	{"~=", searchv1alpha1.FieldOpContains},
	{"=", searchv1alpha1.FieldOpEquals},
	{">", searchv1alpha1.FieldOpGreaterThan},
	{"<", searchv1alpha1.FieldOpLessThan},
}

// Parse parses a field selector over paths of the query grammar:
//
//	selector = clause *( "," clause )
//	clause   = path op value | path ( "in" | "notin" ) "(" value *( "," value ) ")" | path | "!" path
//	op       = "=" | "==" | "!=" | ">" | ">=" | "<" | "<=" | "^=" (starts with) | "~=" (contains)
//
// A bare path means Exists, "!path" DoesNotExist. Brackets and quotes in paths
// (status.conditions[type=Ready].status, metadata.annotations['a/b']) are part of the path.
// Values end at a comma; "\," and "\\" escape a comma and a backslash. Spaces around paths,
// operators and values are ignored. Paths are checked by the query compiler, not here.
func Parse(s string) ([]Clause, error) {
	var out []Clause
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	p := &selParser{s: s}
	for {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if len(out) > MaxClauses {
			return nil, &Error{Pos: c.Pos, Msg: fmt.Sprintf("more than %d clauses", MaxClauses)}
		}
		p.spaces()
		if p.pos == len(p.s) {
			return out, nil
		}
		if p.s[p.pos] != ',' {
			return nil, p.fail("expected ',' or the end of the selector")
		}
		p.pos++
	}
}

type selParser struct {
	s   string
	pos int
}

func (p *selParser) fail(msg string) error { return &Error{Pos: p.pos, Msg: msg} }

func (p *selParser) spaces() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *selParser) clause() (Clause, error) {
	p.spaces()
	c := Clause{Pos: p.pos}
	negated := false
	if p.pos < len(p.s) && p.s[p.pos] == '!' {
		negated = true
		p.pos++
		p.spaces()
	}
	path, err := p.path()
	if err != nil {
		return Clause{}, err
	}
	c.Path = path
	p.spaces()
	if negated || p.pos == len(p.s) || p.s[p.pos] == ',' {
		c.Operator = searchv1alpha1.FieldOpExists
		if negated {
			c.Operator = searchv1alpha1.FieldOpDoesNotExist
		}
		return c, nil
	}
	for _, word := range []struct {
		text string
		op   searchv1alpha1.FieldOperator
	}{{"notin", searchv1alpha1.FieldOpNotIn}, {"in", searchv1alpha1.FieldOpIn}} {
		if strings.HasPrefix(p.s[p.pos:], word.text) {
			rest := p.s[p.pos+len(word.text):]
			if rest != "" && (rest[0] == ' ' || rest[0] == '(') {
				p.pos += len(word.text)
				c.Operator = word.op
				c.Values, err = p.set()
				return c, err
			}
		}
	}
	for _, op := range symbolOps {
		if strings.HasPrefix(p.s[p.pos:], op.text) {
			p.pos += len(op.text)
			c.Operator = op.op
			v, err := p.value(false)
			if err != nil {
				return Clause{}, err
			}
			c.Values = []string{v}
			return c, nil
		}
	}
	return Clause{}, p.fail("expected an operator (=, ==, !=, >, >=, <, <=, ^=, ~=, in, notin), ',' or the end of the selector")
}

// path reads up to the first operator, space or comma outside brackets and quotes.
func (p *selParser) path() (string, error) {
	start := p.pos
	depth, quote := 0, false
	for ; p.pos < len(p.s); p.pos++ {
		ch := p.s[p.pos]
		switch {
		case quote:
			if ch == '\'' {
				quote = false
			}
			continue
		case ch == '\'':
			quote = true
			continue
		case ch == '[':
			depth++
			continue
		case ch == ']':
			depth--
			continue
		case depth > 0:
			continue
		}
		if strings.IndexByte("=!<>^~, \t(", ch) >= 0 {
			break
		}
	}
	if quote || depth != 0 {
		return "", &Error{Pos: start, Msg: fmt.Sprintf("unterminated quote or bracket in path %q", p.s[start:p.pos])}
	}
	if p.pos == start {
		return "", p.fail("expected a path")
	}
	return p.s[start:p.pos], nil
}

// value reads a value up to an unescaped comma (or, inside a set, a closing parenthesis).
func (p *selParser) value(inSet bool) (string, error) {
	p.spaces()
	var b strings.Builder
	for p.pos < len(p.s) {
		ch := p.s[p.pos]
		if ch == '\\' {
			if p.pos+1 == len(p.s) {
				return "", p.fail("a backslash must escape ',', ')' or '\\'")
			}
			next := p.s[p.pos+1]
			if next != ',' && next != '\\' && next != ')' {
				return "", p.fail("a backslash must escape ',', ')' or '\\'")
			}
			b.WriteByte(next)
			p.pos += 2
			continue
		}
		if ch == ',' || (inSet && ch == ')') {
			break
		}
		b.WriteByte(ch)
		p.pos++
	}
	return strings.TrimRight(b.String(), " \t"), nil
}

// set reads "( value *( , value ) )".
func (p *selParser) set() ([]string, error) {
	p.spaces()
	if p.pos == len(p.s) || p.s[p.pos] != '(' {
		return nil, p.fail("expected '(' after in or notin")
	}
	p.pos++
	var values []string
	for {
		v, err := p.value(true)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		if len(values) > MaxValues {
			return nil, p.fail(fmt.Sprintf("more than %d values", MaxValues))
		}
		if p.pos == len(p.s) {
			return nil, p.fail("expected ')'")
		}
		if p.s[p.pos] == ')' {
			p.pos++
			return values, nil
		}
		p.pos++ // ','
	}
}
