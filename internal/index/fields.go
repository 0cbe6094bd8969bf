package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/kubesift/kubesift/internal/query"
)

// listField is a declared path that can select several values ([*] or [key=value]). Its
// values live in the side table k<id>_fields, one row per distinct selected value, filled
// by evaluating the path in Go when an object is written, so the rows agree with
// Query.Matches by construction.
type listField struct {
	id   int64 // row id in the fields table; stored in k<id>_fields.field
	path query.Path
}

// Encodings of the side table's value column. Strings and numbers are stored as TEXT and
// INTEGER/REAL, so SQLite's ordering (numbers < text < blobs) keeps each type in its own
// index range. JSON null satisfies no positive operator and is not stored.
var (
	sideTrue   = []byte{'t'}
	sideFalse  = []byte{'f'}
	sideObject = []byte{'o'} // an object or array: it exists but equals and compares to nothing
)

// sideValue converts a value selected by resolve to what the side table stores, or nil
// for JSON null.
func sideValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case bool:
		if x {
			return sideTrue
		}
		return sideFalse
	case map[string]any, []any:
		return sideObject
	}
	i, f, isInt, ok := query.Number(v)
	switch {
	case !ok:
		return sideObject
	case isInt:
		return i
	default:
		return f
	}
}

const fieldsSchemaSQL = `
CREATE TABLE IF NOT EXISTS fields (
	id INTEGER PRIMARY KEY,
	kind INTEGER NOT NULL,
	path TEXT NOT NULL,
	UNIQUE (kind, path)
)`

// sideSchema creates a kind's side table; IF NOT EXISTS so databases written before the
// table existed gain it on Register.
func sideSchema(t string) string {
	return strings.ReplaceAll(`
CREATE TABLE IF NOT EXISTS {t}_fields (
	field INTEGER NOT NULL,
	value NOT NULL,
	obj INTEGER NOT NULL,
	PRIMARY KEY (field, value, obj)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {t}_fields_obj ON {t}_fields (obj);
`, "{t}", t)
}

// insertSide writes the side table rows of object id. Duplicate values of one object are
// stored once: "any selected value matches" does not need multiplicity.
func (b *batch) insertSide(k *kind, id int64, content map[string]any) error {
	var vals []any
	for _, lf := range k.lists {
		vals = lf.path.Select(content, vals[:0])
		for _, v := range vals {
			sv := sideValue(v)
			if sv == nil {
				continue
			}
			if err := b.s.w.exec(`INSERT OR IGNORE INTO `+k.table+`_fields (field, value, obj) VALUES (?, ?, ?)`, lf.id, sv, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// backfill fills the side table rows of newly declared list fields from the stored
// documents. Callers hold writeMu and run inside a transaction.
func (s *Store) backfill(k *kind, add []listField) error {
	if len(add) == 0 {
		return nil
	}
	st, _, err := s.w.db.Prepare(`SELECT id, json(obj) FROM ` + k.table)
	if err != nil {
		return err
	}
	defer st.Close()
	ins := &kind{table: k.table, lists: map[string]listField{}}
	for _, lf := range add {
		ins.lists[lf.path.String()] = lf
	}
	b := s.newBatch(nil)
	for st.Step() {
		id := st.ColumnInt64(0)
		dec := json.NewDecoder(bytes.NewReader(st.ColumnRawText(1)))
		dec.UseNumber()
		var content map[string]any
		if err := dec.Decode(&content); err != nil {
			return fmt.Errorf("decoding stored object %d: %w", id, err)
		}
		if err := b.insertSide(ins, id, content); err != nil {
			return err
		}
	}
	return st.Err()
}

// sidePredicate writes the condition of a query.Predicate on a declared list field: a lookup in
// the side table's (field, value, obj) index. Negated and probe conditions are correlated
// lookups of the candidate row (obj = o.id), which never collect all the matching rows.
func (sb *sqlBuilder) sidePredicate(p query.Predicate, lf listField, probe bool) {
	switch {
	case p.Negate:
		sb.w("NOT EXISTS (")
	case probe:
		sb.w("EXISTS (")
	default:
		sb.plus()
		sb.w(sb.self(), " IN (")
	}
	sb.sideBranches(p, lf, p.Negate || probe)
	sb.w(")")
}

// sideBranches writes the side table rows selecting the objects p's positive operator
// holds for, as one SELECT or a UNION ALL of them; correlate keeps the candidate row's.
func (sb *sqlBuilder) sideBranches(p query.Predicate, lf listField, correlate bool) {
	t := sb.k.table
	branch := func(cond func()) {
		sb.w("SELECT obj FROM ", t, "_fields WHERE field = ")
		sb.arg(lf.id)
		if cond != nil {
			sb.w(" AND ")
			cond()
		}
		if correlate {
			sb.w(" AND obj = ", sb.self())
		}
	}
	switch p.Op {
	case query.OpExists:
		branch(nil)
	case query.OpIn:
		branch(func() {
			sb.w("value IN (")
			n := 0
			add := func(v any) {
				if n > 0 {
					sb.w(", ")
				}
				n++
				sb.arg(v)
			}
			hasTrue, hasFalse := false, false
			for _, v := range p.Values {
				add(v.Text)
				if v.IsNum {
					add(numArg(v))
				}
				hasTrue = hasTrue || v.IsTrue
				hasFalse = hasFalse || v.IsFalse
			}
			if hasTrue {
				add(sideTrue)
			}
			if hasFalse {
				add(sideFalse)
			}
			sb.w(")")
		})
	case query.OpStartsWith:
		for i, v := range p.Values {
			if i > 0 {
				sb.w(" UNION ALL ")
			}
			branch(func() {
				// A prefix selects a contiguous range of text in bytewise order.
				sb.w("value >= ")
				sb.arg(v.Text)
				sb.w(" AND value < ")
				if hi, ok := prefixEnd(v.Text); ok {
					sb.arg(hi)
				} else {
					sb.w("x''")
				}
			})
		}
	case query.OpContains:
		branch(func() {
			sb.w("value >= '' AND value < x'' AND (")
			for i, v := range p.Values {
				if i > 0 {
					sb.w(" OR ")
				}
				sb.w("instr(CAST(value AS BLOB), ")
				sb.arg([]byte(v.Text))
				sb.w(") > 0")
			}
			sb.w(")")
		})
	case query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		sym := compareSyms[p.Op]
		v := p.Values[0]
		up := p.Op == query.OpGreaterThan || p.Op == query.OpGreaterThanOrEqual
		// Text: strings compared bytewise, bounded to the text range.
		branch(func() {
			sb.w("value", sym)
			sb.arg(v.Text)
			if up {
				sb.w(" AND value < x''")
			} else {
				sb.w(" AND value >= ''")
			}
		})
		if v.IsNum {
			// Numbers: compared numerically, bounded to the numeric range.
			sb.w(" UNION ALL ")
			branch(func() {
				sb.w("value", sym)
				sb.arg(numArg(v))
				if up {
					sb.w(" AND value < ''")
				}
			})
		}
	default:
		sb.fail("field", p.Op)
	}
}

func numArg(v query.Value) any {
	if v.IsInt {
		return v.Int
	}
	return v.Float
}

// prefixEnd returns the smallest string greater than every string with prefix p, or false
// when there is none (p is empty or all 0xff bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// ensureNames creates the kind's trigram name index if it is missing (databases written
// before it existed) and fills it from the stored rows.
func (s *Store) ensureNames(k *kind) error {
	st, err := s.w.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`)
	if err != nil {
		return err
	}
	if err := bind(st, []any{k.table + "_names"}); err != nil {
		return err
	}
	exists := st.Step()
	err = st.Err()
	_ = st.Reset()
	if err != nil || exists {
		return err
	}
	// detail=none keeps only which rows hold a trigram (no positions): about a third of
	// the size of detail=full. Matches are rechecked against lname, so the superset an
	// AND of trigrams returns is fine.
	if err := s.w.db.Exec(`CREATE VIRTUAL TABLE ` + k.table +
		`_names USING fts5(lname, content='', contentless_delete=1, tokenize='trigram', detail='none')`); err != nil {
		return err
	}
	return s.w.db.Exec(`INSERT INTO ` + k.table + `_names (rowid, lname) SELECT id, lname FROM ` + k.table)
}

// trigramPlan says how the trigram index answers a filter's nameContains (see useTrigrams).
type trigramPlan uint8

const (
	// noTrigrams scans the narrow lname index instead.
	noTrigrams trigramPlan = iota
	// everyTrigram matches the rows holding every trigram of the substring.
	everyTrigram
	// leadTrigram matches the rows holding one trigram of it, chosen by leadTrigramOf.
	leadTrigram
)

// trigramsOf returns the distinct trigrams of the lower-cased substring s in order, none when
// s is shorter than three characters (the trigram index cannot answer it).
func trigramsOf(s string) []string {
	r := []rune(s)
	var out []string
	for i := 0; i+3 <= len(r); i++ {
		if t := string(r[i : i+3]); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// trigramMatch returns the FTS5 query that plan makes of the substring s, or false when
// plan uses no trigrams or s has none. Either query returns a superset of the rows whose
// name holds s; lname confirms.
func trigramMatch(s string, plan trigramPlan) (string, bool) {
	ts := trigramsOf(s)
	if len(ts) == 0 || plan == noTrigrams {
		return "", false
	}
	if plan == leadTrigram {
		ts = []string{leadTrigramOf(ts)}
	}
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t, `"`, `""`))
		b.WriteByte('"')
	}
	return b.String(), true
}

// leadTrigramOf guesses the rarest of ts. In the names of Kubernetes objects letters mostly
// spell words that many objects share (an app, a team), while digits and separators spell
// ordinals, hashes and versions: the trigram with the most digits, then the most other
// characters that are not letters, and the last among equals (names end in what tells them
// apart). useTrigrams checks the guess with a bounded count.
func leadTrigramOf(ts []string) string {
	best, bestScore := "", -1
	for _, t := range ts {
		score := 0
		for _, r := range t {
			switch {
			case unicode.IsDigit(r):
				score += 2
			case !unicode.IsLetter(r):
				score++
			}
		}
		if score >= bestScore {
			best, bestScore = t, score
		}
	}
	return best
}
