package query

import (
	"fmt"
	"strings"
)

// MaxPathLength is the longest accepted field path, in bytes.
const MaxPathLength = 256

// SegmentKind tells what a path segment selects.
type SegmentKind uint8

// Segment kinds.
const (
	SegmentKey      SegmentKind = iota // a map key: .name or ['name']
	SegmentWildcard                    // every element of a list: [*]
	SegmentKeyed                       // the elements of a list whose field Key equals Value: [key=value]
)

// Segment is one step of a parsed path.
type Segment struct {
	Kind  SegmentKind
	Key   string // map key (SegmentKey) or element field (SegmentKeyed)
	Value string // SegmentKeyed only
}

// Path is a parsed field path. Its segments only hold text accepted by the grammar, so map
// keys never contain quotes or backslashes and can be rendered into other path syntaxes
// (SQLite JSON paths) safely.
type Path struct {
	segs []Segment
}

// ParsePath parses a field path:
//
//	path    = first { "." ident | "[" bracket "]" }
//	first   = ident | "[" "'" qkey "'" "]"
//	bracket = "'" qkey "'" | "*" | ident "=" value
//	ident   = 1*( ALPHA / DIGIT / "_" / "-" )
//	qkey    = 1*( ALPHA / DIGIT / "_" / "-" / "." / "/" )
//	value   = 1*( ALPHA / DIGIT / "_" / "-" / "." / "/" / ":" ) | "'" *( any rune but "'" and control ) "'"
//
// Examples: spec.replicas, metadata.annotations['example.com/team'],
// spec.containers[*].image, status.conditions[type=Ready].status.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, fmt.Errorf("%w: empty path", ErrInvalidPath)
	}
	if len(s) > MaxPathLength {
		return Path{}, fmt.Errorf("%w: path is %d bytes long, the maximum is %d", ErrInvalidPath, len(s), MaxPathLength)
	}
	p := pathParser{s: s}
	segs, err := p.parse()
	if err != nil {
		return Path{}, err
	}
	return Path{segs: segs}, nil
}

type pathParser struct {
	s   string
	pos int
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isQKeyByte(c byte) bool { return isIdentByte(c) || c == '.' || c == '/' }

func isValueByte(c byte) bool { return isQKeyByte(c) || c == ':' }

func (p *pathParser) fail() error {
	if p.pos >= len(p.s) {
		return fmt.Errorf("%w: unexpected end of path %q", ErrInvalidPath, p.s)
	}
	r := []rune(p.s[p.pos:])[0]
	return fmt.Errorf("%w: invalid character %q at offset %d in %q", ErrInvalidPath, r, p.pos, p.s)
}

func (p *pathParser) parse() ([]Segment, error) {
	var segs []Segment
	// The first segment is a bare identifier or a bracket-quoted key.
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		seg, err := p.bracket()
		if err != nil {
			return nil, err
		}
		if seg.Kind != SegmentKey {
			p.pos = 0
			return nil, p.fail()
		}
		segs = append(segs, seg)
	} else {
		id, err := p.ident()
		if err != nil {
			return nil, err
		}
		segs = append(segs, Segment{Kind: SegmentKey, Key: id})
	}
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '.':
			p.pos++
			id, err := p.ident()
			if err != nil {
				return nil, err
			}
			segs = append(segs, Segment{Kind: SegmentKey, Key: id})
		case '[':
			seg, err := p.bracket()
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
		default:
			return nil, p.fail()
		}
	}
	return segs, nil
}

func (p *pathParser) ident() (string, error) {
	start := p.pos
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.fail()
	}
	return p.s[start:p.pos], nil
}

func (p *pathParser) expect(c byte) error {
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		return p.fail()
	}
	p.pos++
	return nil
}

// bracket parses "[...]" starting at '['.
func (p *pathParser) bracket() (Segment, error) {
	p.pos++ // '['
	if p.pos >= len(p.s) {
		return Segment{}, p.fail()
	}
	switch p.s[p.pos] {
	case '*':
		p.pos++
		if err := p.expect(']'); err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegmentWildcard}, nil
	case '\'':
		p.pos++
		start := p.pos
		for p.pos < len(p.s) && isQKeyByte(p.s[p.pos]) {
			p.pos++
		}
		if p.pos == start {
			return Segment{}, p.fail()
		}
		key := p.s[start:p.pos]
		if err := p.expect('\''); err != nil {
			return Segment{}, err
		}
		if err := p.expect(']'); err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegmentKey, Key: key}, nil
	default:
		field, err := p.ident()
		if err != nil {
			return Segment{}, err
		}
		if err := p.expect('='); err != nil {
			return Segment{}, err
		}
		value, err := p.keyedValue()
		if err != nil {
			return Segment{}, err
		}
		if err := p.expect(']'); err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegmentKeyed, Key: field, Value: value}, nil
	}
}

func (p *pathParser) keyedValue() (string, error) {
	if p.pos < len(p.s) && p.s[p.pos] == '\'' {
		p.pos++
		start := p.pos
		for p.pos < len(p.s) {
			r, size := decodeRune(p.s[p.pos:])
			if r == '\'' {
				v := p.s[start:p.pos]
				p.pos++
				return v, nil
			}
			if r < 0x20 || r == 0x7f || r == invalidRune {
				return "", p.fail()
			}
			p.pos += size
		}
		return "", p.fail()
	}
	start := p.pos
	for p.pos < len(p.s) && isValueByte(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.fail()
	}
	return p.s[start:p.pos], nil
}

// String renders the path in canonical form: identifiers in dot notation, other keys
// bracket-quoted, keyed values quoted when they need it.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p.segs {
		switch s.Kind {
		case SegmentKey:
			if isIdent(s.Key) {
				if i > 0 {
					b.WriteByte('.')
				}
				b.WriteString(s.Key)
			} else {
				b.WriteString("['")
				b.WriteString(s.Key)
				b.WriteString("']")
			}
		case SegmentWildcard:
			b.WriteString("[*]")
		case SegmentKeyed:
			b.WriteByte('[')
			b.WriteString(s.Key)
			b.WriteByte('=')
			if isValueWord(s.Value) {
				b.WriteString(s.Value)
			} else {
				b.WriteByte('\'')
				b.WriteString(s.Value)
				b.WriteByte('\'')
			}
			b.WriteByte(']')
		}
	}
	return b.String()
}

// Segments returns the path's steps. The slice is shared: callers must not modify it.
func (p Path) Segments() []Segment { return p.segs }

// Scalar reports whether the path selects at most one value (no list segments).
func (p Path) Scalar() bool {
	for _, s := range p.segs {
		if s.Kind != SegmentKey {
			return false
		}
	}
	return true
}

// Is reports whether the path is exactly the given key sequence.
func (p Path) Is(keys ...string) bool {
	if len(p.segs) != len(keys) {
		return false
	}
	for i, s := range p.segs {
		if s.Kind != SegmentKey || s.Key != keys[i] {
			return false
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

func isValueWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isValueByte(s[i]) {
			return false
		}
	}
	return true
}
