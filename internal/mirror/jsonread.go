package mirror

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes the JSON of a watch stream into the maps of unstructured objects in one
// pass over each event, with the results of the API machinery's decoder
// (sigs.k8s.io/json.UnmarshalCaseSensitivePreserveInts into an any): objects become
// map[string]any, arrays []any, integers that fit int64 int64 and other numbers float64,
// invalid UTF-8 and lone surrogates U+FFFD, and the last of duplicate keys wins. That decoder
// reads an event twice, once to find its end and once to decode it, through a state machine
// called for every byte; FuzzJSONValue holds the two to the same results.

// maxDepth is the deepest nesting accepted, as the API machinery's decoder accepts.
const maxDepth = 10000

// maxKeys bounds the table of interned object keys. Keys repeat from object to object
// (metadata, name, labels, ...), so most keys of an event are found there and share one
// string; keys that arrive after the table is full are allocated as usual.
const maxKeys = 4096

// jsonParser parses one complete JSON value held in b.
type jsonParser struct {
	b     []byte
	src   string // b as a string: strings without escapes are cut from it, not allocated
	i     int
	depth int
	keys  map[string]string
	tmp   []byte // unescaped string scratch
}

// syntaxError reports malformed JSON at the parser's position.
func (p *jsonParser) syntaxError(what string) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("invalid JSON: unexpected end of input, %s", what)
	}
	return fmt.Errorf("invalid JSON at offset %d: unexpected %q, %s", p.i, p.b[p.i], what)
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses the value at the parser's position.
func (p *jsonParser) value() (any, error) {
	p.skipSpace()
	if p.i >= len(p.b) {
		return nil, p.syntaxError("want a value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str(false)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return nil, p.syntaxError("want a value")
	}
}

func (p *jsonParser) literal(word string) error {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return p.syntaxError("want " + word)
	}
	p.i += len(word)
	return nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errors.New("invalid JSON: exceeded max depth")
	}
	return nil
}

// members calls member for each key of the object at the parser's position, with the parser
// positioned at the key's value, which member must consume.
func (p *jsonParser) members(member func(key string) error) error {
	if err := p.enter(); err != nil {
		return err
	}
	p.i++ // '{'
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.syntaxError("want an object key")
		}
		k, err := p.str(true)
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.syntaxError("want ':' after an object key")
		}
		p.i++
		if err := member(k.(string)); err != nil {
			return err
		}
		p.skipSpace()
		if p.i >= len(p.b) {
			return p.syntaxError("want ',' or '}'")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return nil
		default:
			return p.syntaxError("want ',' or '}'")
		}
	}
}

func (p *jsonParser) object() (any, error) {
	m := map[string]any{}
	err := p.members(func(key string) error {
		v, err := p.value()
		m[key] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++ // '['
	a := []any{}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, p.syntaxError("want ',' or ']'")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return a, nil
		default:
			return nil, p.syntaxError("want ',' or ']'")
		}
	}
}

// str parses a string; key interns it in the key table.
func (p *jsonParser) str(key bool) (any, error) {
	p.i++ // '"'
	start := p.i
	// The common case: printable ASCII without escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			end := p.i
			p.i++
			if !key {
				return p.src[start:end], nil
			}
			return p.makeString(p.b[start:end], key), nil
		}
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			break
		}
		p.i++
	}
	out := append(p.tmp[:0], p.b[start:p.i]...)
	for {
		if p.i >= len(p.b) {
			return nil, p.syntaxError("want the end of a string")
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			p.tmp = out
			return p.makeString(out, key), nil
		case c < 0x20:
			return nil, p.syntaxError("in a string")
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			p.i += size
			out = utf8.AppendRune(out, r) // U+FFFD for an invalid byte
		}
	}
}

// escape decodes the escape sequence at the parser's position.
func (p *jsonParser) escape() (rune, error) {
	if p.i+1 >= len(p.b) {
		p.i = len(p.b)
		return 0, p.syntaxError("in an escape")
	}
	c := p.b[p.i+1]
	p.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := hex4(p.b[p.i:])
		if !ok {
			return 0, p.syntaxError(`in a \u escape`)
		}
		p.i += 4
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		// A surrogate pair is consumed whole; a lone surrogate becomes U+FFFD and what
		// follows it is read on its own.
		if len(p.b)-p.i >= 6 && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
			if r2, ok := hex4(p.b[p.i+2:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					p.i += 6
					return dec, nil
				}
			}
		}
		return utf8.RuneError, nil
	default:
		p.i -= 1
		return 0, p.syntaxError("in an escape")
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

func (p *jsonParser) makeString(raw []byte, key bool) string {
	if !key {
		return string(raw)
	}
	if s, ok := p.keys[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(p.keys) < maxKeys {
		p.keys[s] = s
	}
	return s
}

// number parses a number: an int64 when it has no fraction and fits, else a float64.
func (p *jsonParser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return nil, p.syntaxError("in a number")
	}
	intEnd := p.i
	fraction := false
	if p.i < len(p.b) && p.b[p.i] == '.' {
		fraction = true
		p.i++
		if !p.digits() {
			return nil, p.syntaxError("want a digit after the decimal point")
		}
	}
	exponent := false
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		exponent = true
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return nil, p.syntaxError("want a digit in the exponent")
		}
	}
	lit := p.b[start:p.i]
	if !fraction && !exponent && intEnd-digits <= 18 {
		// At most 18 digits always fit an int64.
		var n int64
		for _, c := range p.b[digits:intEnd] {
			n = n*10 + int64(c-'0')
		}
		if start != digits {
			n = -n
		}
		return n, nil
	}
	s := string(lit)
	if !fraction {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: the number %s does not fit a float64", s)
	}
	return f, nil
}

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// parseJSON parses b, which must hold exactly one JSON value and white space.
func parseJSON(b []byte, keys map[string]string) (any, error) {
	p := jsonParser{b: b, src: string(b), keys: keys}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(b) {
		return nil, p.syntaxError("after the top-level value")
	}
	return v, nil
}

// frameScanner finds where each top-level JSON value of a stream ends, reading each byte once
// across reads: a value is parsed only once all of it has arrived.
type frameScanner struct {
	pos     int // the next byte to scan, from the start of the value
	depth   int
	started bool
	inStr   bool
	esc     bool
}

// scan scans b, which holds the value from its start; it returns the value's length once
// it is complete, or 0.
func (f *frameScanner) scan(b []byte) int {
	for ; f.pos < len(b); f.pos++ {
		c := b[f.pos]
		if f.inStr {
			switch {
			case f.esc:
				f.esc = false
			case c == '\\':
				f.esc = true
			case c == '"':
				f.inStr = false
			default:
				// Skip to the next quote or backslash: most of an event is strings.
				q := bytes.IndexByte(b[f.pos:], '"')
				if q < 0 {
					q = len(b) - f.pos
				}
				if e := bytes.IndexByte(b[f.pos:f.pos+q], '\\'); e >= 0 {
					q = e
				}
				f.pos += q - 1
			}
			continue
		}
		switch c {
		case '"':
			if !f.started {
				f.pos++
				return f.pos
			}
			f.inStr = true
		case '{', '[':
			f.depth++
			f.started = true
		case '}', ']':
			f.depth--
			if f.depth <= 0 {
				f.pos++
				return f.pos
			}
		case ' ', '\t', '\n', '\r':
		default:
			if !f.started {
				// A top-level value that is not an object or an array: hand it to the
				// parser, which rejects it as an event.
				f.pos++
				return f.pos
			}
		}
	}
	return 0
}

// jsonStream reads a stream of top-level JSON values.
type jsonStream struct {
	r    io.Reader
	buf  []byte // buf[off:] is read and not yet returned
	off  int
	scan frameScanner
	err  error // the error that ended reading
	keys map[string]string
}

const readChunk = 32 << 10

// maxEventBytes bounds one event of a stream. The API server stores objects of at most a few
// MiB; a value that grows past this is not a watch event, and reading on would only take
// memory.
const maxEventBytes = 64 << 20

func newJSONStream(r io.Reader) *jsonStream {
	return &jsonStream{r: r, keys: make(map[string]string, 256)}
}

// next returns the next value's bytes, valid until the following call; io.EOF after the last
// value, io.ErrUnexpectedEOF if the stream ends inside one.
func (s *jsonStream) next() ([]byte, error) {
	for {
		if n := s.scan.scan(s.buf[s.off:]); n > 0 {
			v := s.buf[s.off : s.off+n]
			s.off += n
			s.scan = frameScanner{}
			return v, nil
		}
		if s.err != nil {
			if errors.Is(s.err, io.EOF) {
				if !s.scan.started && isSpace(s.buf[s.off:]) {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, s.err
		}
		if len(s.buf)-s.off > maxEventBytes {
			return nil, fmt.Errorf("a watch event longer than %d bytes", maxEventBytes)
		}
		s.fill()
	}
}

// fill reads more of the stream, keeping the unreturned bytes.
func (s *jsonStream) fill() {
	if s.off > 0 {
		n := copy(s.buf, s.buf[s.off:])
		s.buf, s.off = s.buf[:n], 0
	}
	if cap(s.buf)-len(s.buf) < readChunk/2 {
		grown := make([]byte, len(s.buf), max(2*cap(s.buf), readChunk))
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.err = err
	}
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
