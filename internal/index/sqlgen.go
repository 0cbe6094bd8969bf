package index

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/selection"
)

// sqlBuilder assembles SQL text and its bound arguments. Only identifiers derived from
// integer kind ids and the validated path grammar are written into the text; every user
// value is appended as a "?" argument.
type sqlBuilder struct {
	b       strings.Builder
	args    []any
	k       *kind
	aliases int
	// noIndex prefixes filter expressions with unary "+" so SQLite does not use them to
	// drive the query (the sort index drives instead).
	noIndex bool
	// trigram answers nameContains from the trigram index; see useTrigrams.
	trigram bool
	// probe is the driver chosen by chooseDriver; nil leaves the choice to SQLite.
	probe *probes
	// selfCol is the column probes compare obj with ("" for o.id).
	selfCol string
}

// probes says which term drives a query (driverLabel or driverPred, the other is -1), and
// per label requirement and predicate whether it is checked per candidate (true).
type probes struct {
	labels, preds           []bool
	driverLabel, driverPred int
}

// filterPlan is how a query's filter is written: see useTrigrams and chooseDriver.
type filterPlan struct {
	trigram bool
	probe   *probes
}

func (sb *sqlBuilder) w(s ...string) {
	for _, x := range s {
		sb.b.WriteString(x)
	}
}

func (sb *sqlBuilder) arg(v any) {
	sb.b.WriteByte('?')
	sb.args = append(sb.args, v)
}

// argList writes "?, ?, ..." binding each value, for an IN list.
func argList[T any](sb *sqlBuilder, values []T) {
	for i, v := range values {
		if i > 0 {
			sb.w(", ")
		}
		sb.arg(v)
	}
}

func (sb *sqlBuilder) plus() {
	if sb.noIndex {
		sb.b.WriteByte('+')
	}
}

// where writes the query's filter as a conjunction ("1" when empty).
func (sb *sqlBuilder) where(q *Query) {
	t := sb.k.table
	n := 0
	and := func() {
		if n > 0 {
			sb.w(" AND ")
		}
		n++
	}
	if len(q.namespaces) > 0 {
		and()
		sb.w("o.ns IN (")
		argList(sb, q.namespaces)
		sb.w(")")
	}
	if len(q.names) > 0 {
		and()
		sb.w("o.name IN (")
		argList(sb, q.names)
		sb.w(")")
	}
	if q.nameContains != "" {
		and()
		if match, ok := trigramQuery(q.nameContains); ok && sb.trigram {
			// The trigram index finds the rows holding every trigram; lname confirms the
			// substring.
			sb.plus()
			sb.w("o.id IN (SELECT rowid FROM ", t, "_names WHERE ", t, "_names MATCH ")
			sb.arg(match)
			sb.w(") AND instr(o.lname, ")
			sb.arg(q.nameContains)
			sb.w(") > 0")
		} else {
			// Shorter than a trigram: scanning the narrow lname index is much cheaper
			// than scanning table rows.
			sb.plus()
			sb.w("o.id IN (SELECT id FROM ", t, " INDEXED BY ", t, "_lname WHERE instr(lname, ")
			sb.arg(q.nameContains)
			sb.w(") > 0)")
		}
	}
	if q.labelsNothing {
		and()
		sb.w("0")
	}
	// With a chosen driver, the label and side-table terms other than the driver only
	// need the object's id: they are checked inside the driver's subquery (see driven).
	var probes, docs []cut
	for i, r := range q.labelReqs {
		if pl := sb.probe; pl != nil {
			if pl.driverLabel == i {
				continue
			}
			if pl.labels[i] || negativeLabel(r.op) {
				probes = append(probes, sb.take(func() { sb.label(r, true) }))
				continue
			}
		}
		and()
		sb.label(r, false)
	}
	if q.ownerUID != "" {
		and()
		sb.plus()
		sb.w("o.id IN (SELECT obj FROM ", t, "_owners WHERE uid = ")
		sb.arg(q.ownerUID)
		sb.w(")")
	}
	if q.createdAfter != nil {
		and()
		sb.w("o.created <> 0 AND o.created > ")
		sb.arg(q.createdAfter.Unix())
	}
	if q.createdBefore != nil {
		and()
		bound := q.createdBefore.Unix()
		if q.createdBefore.Nanosecond() > 0 {
			bound++
		}
		sb.w("o.created <> 0 AND o.created < ")
		sb.arg(bound)
	}
	for i, p := range q.preds {
		pl := sb.probe
		_, list := sb.k.lists[p.path.String()]
		switch {
		case pl == nil:
			and()
			sb.predicate(p, false)
		case list && pl.driverPred == i:
		case list:
			probes = append(probes, sb.take(func() { sb.predicate(p, true) }))
		default:
			// Read from the document, of the candidates that passed the probes only.
			docs = append(docs, sb.take(func() {
				old := sb.noIndex
				sb.noIndex = true
				sb.predicate(p, false)
				sb.noIndex = old
			}))
		}
	}
	if sb.probe != nil {
		and()
		sb.driven(q, probes)
		for _, c := range docs {
			and()
			sb.paste([]cut{c})
		}
	}
	if n == 0 {
		sb.w("1")
	}
}

// label writes a label requirement. Equality and its negation are correlated probes of
// the (key, value, obj) primary key when probe is set or negated: one seek per candidate
// row, where "o.id IN (SELECT obj ...)" would first collect every object carrying the
// label (a quarter of the table for an unselective one).
func (sb *sqlBuilder) label(r labelReq, probe bool) {
	t := sb.k.table
	exists := func(neg bool) {
		if neg {
			sb.w("NOT ")
		}
		sb.w("EXISTS (SELECT 1 FROM ", t, "_labels WHERE key = ")
		sb.arg(r.key)
		sb.w(" AND value IN (")
		argList(sb, r.values)
		sb.w(") AND obj = ", sb.self(), ")")
	}
	if probe {
		// Not the driver: without an index on obj, the other operators stay sets, written
		// so that SQLite cannot drive from them.
		defer func(old bool) { sb.noIndex = old }(sb.noIndex)
		sb.noIndex = true
	}
	in := func(neg bool, cond func()) {
		if neg {
			sb.w(sb.self(), " NOT IN (SELECT obj FROM ", t, "_labels WHERE key = ")
		} else {
			sb.plus()
			sb.w(sb.self(), " IN (SELECT obj FROM ", t, "_labels WHERE key = ")
		}
		sb.arg(r.key)
		cond()
		sb.w(")")
	}
	values := func() {
		sb.w(" AND value IN (")
		argList(sb, r.values)
		sb.w(")")
	}
	switch r.op {
	case selection.Equals, selection.DoubleEquals, selection.In:
		if probe {
			exists(false)
		} else {
			in(false, values)
		}
	case selection.NotEquals, selection.NotIn:
		exists(true)
	case selection.Exists:
		in(false, func() {})
	case selection.DoesNotExist:
		in(true, func() {})
	case selection.GreaterThan:
		in(false, func() { sb.w(" AND num > "); sb.arg(r.num) })
	case selection.LessThan:
		in(false, func() { sb.w(" AND num < "); sb.arg(r.num) })
	default:
		sb.w("0")
	}
}

// leafExprs writes the SQL value and JSON type of the selected value.
type leafExprs struct {
	v, t func()
}

// pathCond writes a condition that is true when leaf holds for any value the path selects
// in the JSON document expression doc. elem is set when doc is a json_each alias.
func (sb *sqlBuilder) pathCond(doc string, elem bool, segs []segment, leaf func(e leafExprs)) {
	i := 0
	for i < len(segs) && segs[i].kind == segKey {
		i++
	}
	if i == len(segs) {
		if elem && len(segs) == 0 {
			leaf(leafExprs{v: func() { sb.w(doc, ".atom") }, t: func() { sb.w(doc, ".type") }})
			return
		}
		src := doc
		if elem {
			// Only object elements have keys; primitive elements' value is not JSON.
			src = "CASE " + doc + ".type WHEN 'object' THEN " + doc + ".value END"
		}
		jp := jsonPath(segs)
		_, indexed := sb.k.fields[Path{segs: segs}.String()]
		path := func() {
			if indexed && !elem {
				sb.w(sqlString(jp))
			} else {
				sb.arg(jp)
			}
		}
		leaf(leafExprs{
			v: func() { sb.plus(); sb.w("json_extract(", src, ", "); path(); sb.w(")") },
			t: func() { sb.w("json_type(", src, ", "); path(); sb.w(")") },
		})
		return
	}
	src := doc
	if elem {
		src = "CASE " + doc + ".type WHEN 'object' THEN " + doc + ".value WHEN 'array' THEN " + doc + ".value END"
	}
	sb.aliases++
	a := "j" + strconv.Itoa(sb.aliases)
	sb.w("EXISTS (SELECT 1 FROM json_each(", src, ", ")
	sb.arg(jsonPath(segs[:i]))
	sb.w(") AS ", a, " WHERE typeof(", a, ".key) = 'integer'")
	if segs[i].kind == segKeyed {
		sb.w(" AND ")
		want := []typedValue{newTypedValue(segs[i].value)}
		sb.pathCond(a, true, []segment{{kind: segKey, key: segs[i].key}}, func(e leafExprs) {
			sb.valueCond(OpIn, want, e)
		})
	}
	sb.w(" AND ")
	sb.pathCond(a, true, segs[i+1:], leaf)
	sb.w(")")
}

// driven writes the driver's condition: "o.id IN" the driver's objects that pass every
// probe. The probes run inside the subquery on the driver's index entries, so a candidate
// that fails one is never looked up in the table: even a lookup that reads no column
// copies the row's page, costing about as much as the probes themselves.
func (sb *sqlBuilder) driven(q *Query, probes []cut) {
	sb.plus()
	sb.w("o.id IN (SELECT d.obj FROM (")
	sb.termSet(q, sb.probe.driverLabel, sb.probe.driverPred)
	sb.w(") AS d")
	if len(probes) > 0 {
		sb.w(" WHERE ")
		sb.paste(probes)
	}
	sb.w(")")
}

// termSet writes a query of the objects (column obj) matching label requirement
// label or predicate pred (the other is -1), reading its index alone. For a plain
// declared path the set is a superset (indexRange); the document check stays.
func (sb *sqlBuilder) termSet(q *Query, label, pred int) {
	if label >= 0 {
		r := q.labelReqs[label]
		sb.w("SELECT obj FROM ", sb.k.table, "_labels WHERE key = ")
		sb.arg(r.key)
		switch r.op {
		case selection.GreaterThan:
			sb.w(" AND num > ")
			sb.arg(r.num)
		case selection.LessThan:
			sb.w(" AND num < ")
			sb.arg(r.num)
		case selection.Exists:
		default:
			sb.w(" AND value IN (")
			argList(sb, r.values)
			sb.w(")")
		}
		return
	}
	p := q.preds[pred]
	if lf, ok := sb.k.lists[p.path.String()]; ok {
		sb.sideBranches(p, lf, false)
		return
	}
	sb.indexRange(p)
}

// self is the column holding the id of the object a probe checks.
func (sb *sqlBuilder) self() string {
	if sb.selfCol != "" {
		return sb.selfCol
	}
	return "o.id"
}

// take writes a probe of the driver's candidate with fn and cuts it out.
func (sb *sqlBuilder) take(fn func()) cut {
	m := sb.mark()
	sb.selfCol = "d.obj"
	fn()
	sb.selfCol = ""
	return sb.cut(m)
}

// mark is a position in the SQL text and arguments written so far.
type mark struct{ text, args int }

// cut is SQL text taken out of a builder, with its arguments.
type cut struct {
	text string
	args []any
}

func (sb *sqlBuilder) mark() mark { return mark{sb.b.Len(), len(sb.args)} }

// cut removes what was written since m and returns it.
func (sb *sqlBuilder) cut(m mark) cut {
	all := sb.b.String()
	c := cut{text: all[m.text:], args: append([]any(nil), sb.args[m.args:]...)}
	sb.b.Reset()
	sb.b.WriteString(all[:m.text])
	sb.args = sb.args[:m.args]
	return c
}

// paste writes cuts joined by AND.
func (sb *sqlBuilder) paste(cs []cut) {
	for i, c := range cs {
		if i > 0 {
			sb.w(" AND ")
		}
		sb.w(c.text)
		sb.args = append(sb.args, c.args...)
	}
}

func negativeLabel(op selection.Operator) bool {
	return op == selection.NotEquals || op == selection.NotIn || op == selection.DoesNotExist
}

// hasIndexRange reports whether p can select candidates from its expression index alone
// (see indexRange).
func hasIndexRange(k *kind, p predicate) bool {
	if _, ok := k.fields[p.path.String()]; !ok {
		return false
	}
	switch p.op {
	case OpExists, OpIn, OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		return true
	}
	return false
}

// predicate writes p. On a declared list path, probe makes it a correlated lookup in the
// side table (see sidePredicate); other paths are checked on the document.
func (sb *sqlBuilder) predicate(p predicate, probe bool) {
	if lf, ok := sb.k.lists[p.path.String()]; ok {
		sb.sidePredicate(p, lf, probe)
		return
	}
	if p.negate {
		sb.w("NOT coalesce((")
	}
	sb.pathCond("o.obj", false, p.path.segs, func(e leafExprs) { sb.valueCond(p.op, p.values, e) })
	if p.negate {
		sb.w("), 0)")
	}
}

// indexRange writes a query of the ids of rows whose value in p's expression index
// (json_extract of the unaliased document) could match p, reading the index alone, or
// returns false when p's path is not a plain declared path or its operator has no such
// query. It skips the JSON type checks, which need the row; the caller also checks p
// exactly. Ranges are a UNION ALL, not an OR, which SQLite answers by reading table rows.
func (sb *sqlBuilder) indexRange(p predicate) bool {
	if !hasIndexRange(sb.k, p) {
		return false
	}
	ix := sb.k.fields[p.path.String()]
	v := "json_extract(obj, " + sqlString(jsonPath(p.path.segs)) + ")"
	from := func() { sb.w("SELECT id AS obj FROM ", sb.k.table, " INDEXED BY ", ix, " WHERE ", v) }
	switch p.op {
	case OpExists:
		from()
		sb.w(" IS NOT NULL")
	case OpIn:
		from()
		sb.w(" IN (")
		n := 0
		add := func(x any) {
			if n > 0 {
				sb.w(", ")
			}
			n++
			sb.arg(x)
		}
		for _, tv := range p.values {
			add(tv.s)
			if tv.isNum {
				add(numArg(tv))
			}
			// json_extract gives 1 and 0 for JSON true and false.
			if tv.isTrue {
				add(int64(1))
			}
			if tv.isFalse {
				add(int64(0))
			}
		}
		sb.w(")")
	case OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		sym := compareSyms[p.op]
		tv := p.values[0]
		up := p.op == OpGreaterThan || p.op == OpGreaterThanOrEqual
		// Text, bounded to the text range (json_extract gives text for strings, objects and
		// lists).
		from()
		sb.w(sym)
		sb.arg(tv.s)
		if up {
			sb.w(" AND ", v, " < x''")
		} else {
			sb.w(" AND ", v, " >= ''")
		}
		if tv.isNum {
			// Numbers, bounded to the numeric range.
			sb.w(" UNION ALL ")
			from()
			sb.w(sym)
			sb.num(tv)
			if up {
				sb.w(" AND ", v, " < ''")
			}
		}
	default:
		return false
	}
	return true
}

var compareSyms = map[Operator]string{
	OpGreaterThan: " > ", OpGreaterThanOrEqual: " >= ", OpLessThan: " < ", OpLessThanOrEqual: " <= ",
}

// valueCond writes the positive operator's condition on one value. The typing rules are
// those of valueEquals and compareValue in eval.go.
func (sb *sqlBuilder) valueCond(op Operator, values []typedValue, e leafExprs) {
	switch op {
	case OpExists:
		sb.w("(")
		e.t()
		sb.w(" <> 'null')")
	case OpIn:
		var nums []typedValue
		hasTrue, hasFalse := false, false
		for _, v := range values {
			if v.isNum {
				nums = append(nums, v)
			}
			hasTrue = hasTrue || v.isTrue
			hasFalse = hasFalse || v.isFalse
		}
		sb.w("((")
		e.v()
		sb.w(" IN (")
		for i, v := range values {
			if i > 0 {
				sb.w(", ")
			}
			sb.arg(v.s)
		}
		sb.w(") AND ")
		e.t()
		sb.w(" = 'text')")
		if len(nums) > 0 {
			sb.w(" OR (")
			e.v()
			sb.w(" IN (")
			for i, v := range nums {
				if i > 0 {
					sb.w(", ")
				}
				sb.num(v)
			}
			sb.w(") AND ")
			e.t()
			sb.w(" IN ('integer', 'real'))")
		}
		if hasTrue {
			sb.w(" OR (")
			e.v()
			sb.w(" = 1 AND ")
			e.t()
			sb.w(" = 'true')")
		}
		if hasFalse {
			sb.w(" OR (")
			e.v()
			sb.w(" = 0 AND ")
			e.t()
			sb.w(" = 'false')")
		}
		sb.w(")")
	case OpContains, OpStartsWith:
		sb.w("(")
		e.t()
		sb.w(" = 'text' AND (")
		for i, v := range values {
			if i > 0 {
				sb.w(" OR ")
			}
			if op == OpContains {
				sb.w("instr(CAST(")
				e.v()
				sb.w(" AS BLOB), ")
				sb.arg([]byte(v.s))
				sb.w(") > 0")
			} else {
				sb.w("substr(CAST(")
				e.v()
				sb.w(" AS BLOB), 1, ")
				sb.arg(int64(len(v.s)))
				sb.w(") = ")
				sb.arg([]byte(v.s))
			}
		}
		sb.w("))")
	case OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual:
		sym := compareSyms[op]
		v := values[0]
		sb.w("((")
		e.t()
		sb.w(" = 'text' AND ")
		e.v()
		sb.w(sym)
		sb.arg(v.s)
		sb.w(")")
		if op == OpLessThan || op == OpLessThanOrEqual {
			// Numbers sort before all text: bound the text range below.
			sb.w(" AND ")
			e.v()
			sb.w(" >= ''")
		}
		if v.isNum {
			sb.w(" OR (")
			e.t()
			sb.w(" IN ('integer', 'real') AND ")
			e.v()
			sb.w(sym)
			sb.num(v)
			if op == OpGreaterThan || op == OpGreaterThanOrEqual {
				// Text sorts after all numbers: bound the numeric range above.
				sb.w(" AND ")
				e.v()
				sb.w(" < ''")
			}
			sb.w(")")
		}
		sb.w(")")
	default:
		sb.w("0")
	}
}

func (sb *sqlBuilder) num(v typedValue) {
	if v.isInt {
		sb.arg(v.i)
	} else {
		sb.arg(v.f)
	}
}

// sortExpr writes the expression of sort key i ("uid"/"id" tiebreakers included).
func (sb *sqlBuilder) sortExpr(sf sortField, noIndex bool) {
	if noIndex {
		sb.w("+")
	}
	if sf.col != "" {
		sb.w("o.", sf.col)
		return
	}
	jp := jsonPath(sf.path.segs)
	if _, ok := sb.k.fields[sf.path.String()]; ok {
		sb.w("json_extract(o.obj, ", sqlString(jp), ")")
		return
	}
	sb.w("json_extract(o.obj, ")
	sb.arg(jp)
	sb.w(")")
}

// keyFields returns the sort keys followed by the uid and rowid tiebreakers, which follow
// the direction of the first key so uniform orders can use one index.
func (q *Query) keyFields() []sortField {
	desc := q.sort[0].desc
	out := append([]sortField(nil), q.sort...)
	hasNS, hasName := false, false
	for _, k := range q.sort {
		hasNS = hasNS || k.col == "ns"
		hasName = hasName || k.col == "name"
	}
	if hasNS && hasName {
		// Namespace and name identify an object: the order is already total, and leaving
		// out the tiebreakers keeps keyset conditions inside the (ns, name) index.
		return out
	}
	return append(out, sortField{col: "uid", desc: desc}, sortField{col: "id", desc: desc})
}

func nullable(sf sortField) bool { return sf.col == "" }

// after writes the keyset condition "row sorts strictly after cursor".
func (sb *sqlBuilder) after(keys []sortField, cursor []any, noIndex bool) {
	// A leading range on the first key lets SQLite seek in its index.
	first, c0 := keys[0], cursor[0]
	if c0 != nil && !noIndex {
		if !first.desc {
			sb.sortExpr(first, false)
			sb.w(" >= ")
			sb.arg(c0)
			sb.w(" AND ")
		} else if !nullable(first) {
			sb.sortExpr(first, false)
			sb.w(" <= ")
			sb.arg(c0)
			sb.w(" AND ")
		}
	}
	sb.w("(")
	sb.afterFrom(keys, cursor, 0, noIndex)
	sb.w(")")
}

func (sb *sqlBuilder) afterFrom(keys []sortField, cursor []any, i int, noIndex bool) {
	k, c := keys[i], cursor[i]
	// Strictly greater in sort order. NULL sorts first ascending and last descending.
	switch {
	case !k.desc && c == nil:
		sb.sortExpr(k, noIndex)
		sb.w(" IS NOT NULL")
	case !k.desc:
		sb.sortExpr(k, noIndex)
		sb.w(" > ")
		sb.arg(c)
	case c == nil:
		sb.w("0")
	default:
		sb.w("(")
		sb.sortExpr(k, noIndex)
		sb.w(" < ")
		sb.arg(c)
		if nullable(k) {
			sb.w(" OR ")
			sb.sortExpr(k, noIndex)
			sb.w(" IS NULL")
		}
		sb.w(")")
	}
	if i+1 == len(keys) {
		return
	}
	sb.w(" OR (")
	sb.sortExpr(k, noIndex)
	sb.w(" IS ")
	sb.arg(c)
	sb.w(" AND (")
	sb.afterFrom(keys, cursor, i+1, noIndex)
	sb.w("))")
}

func (sb *sqlBuilder) orderBy(keys []sortField, noIndex bool) {
	sb.w(" ORDER BY ")
	for i, k := range keys {
		if i > 0 {
			sb.w(", ")
		}
		sb.sortExpr(k, noIndex && i == 0)
		if k.desc {
			sb.w(" DESC")
		}
	}
}

var _ = fmt.Sprint
