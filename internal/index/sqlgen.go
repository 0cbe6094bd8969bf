package index

import (
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/kubesift/kubesift/internal/query"
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
	// trigram says how the trigram index answers nameContains; see useTrigrams.
	trigram trigramPlan
	// probe is the driver chosen by chooseDriver; nil leaves the choice to SQLite.
	probe *probes
	// groups are the plans of the query's anyOf groups, in order.
	groups []filterPlan
	// chains holds, per filter with an owner chain, the UIDs of the owners it allows as a
	// JSON array (see resolveOwners).
	chains map[*query.Filter]string
	// selfCol is the column probes compare obj with ("" for o.id).
	selfCol string
	// err is the first condition that could not be written; the SQL is not run.
	err error
}

// fail records that the SQL cannot express a condition. Compile accepts only operators the
// builder knows, so this is a guard against the two drifting apart: a condition that is
// silently false would give a wrong, empty answer instead of an error.
func (sb *sqlBuilder) fail(what string, op any) {
	if sb.err == nil {
		sb.err = query.Errorf("", query.ErrInvalidValue, "unsupported %s operator %q", what, op)
	}
	sb.w("0")
}

// prepare prepares the SQL written so far on c and binds its arguments.
func (sb *sqlBuilder) prepare(c *conn) (*sqlite3.Stmt, error) {
	if sb.err != nil {
		return nil, sb.err
	}
	st, err := c.prepare(sb.b.String())
	if err != nil {
		return nil, err
	}
	if err := bind(st, sb.args); err != nil {
		return nil, err
	}
	return st, nil
}

// probes says which term drives a query (driverLabel or driverPred, the other is -1; or,
// with both -1, the query's namespaces), and per label requirement and query.Predicate
// whether it is checked per candidate (true).
type probes struct {
	labels, preds           []bool
	driverLabel, driverPred int
}

// filterPlan is how a query's filter is written: see useTrigrams and chooseDriver. groups
// holds the plan of each anyOf group, planned on its own.
type filterPlan struct {
	trigram trigramPlan
	probe   *probes
	groups  []filterPlan
	// chains holds the resolved owner chains of every filter of the query (top level and
	// groups); see resolveOwners.
	chains map[*query.Filter]string
	// ownerKinds are the snapshot's kinds when chains is set.
	ownerKinds []snapshotKind
}

// newBuilder returns a builder that writes filters as fp plans them.
func newBuilder(k *kind, fp filterPlan) *sqlBuilder {
	return &sqlBuilder{k: k, trigram: fp.trigram, probe: fp.probe, groups: fp.groups, chains: fp.chains}
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

// cond is a node of a condition tree. A filter is built as a tree first and rendered once:
// render writes the node's SQL text into sb and appends the values it binds, in the order
// of their "?". Nodes render into one builder so that json_each aliases stay unique and
// the builder's flags (noIndex, selfCol) apply to the nodes below the one that sets them.
type cond interface{ render(sb *sqlBuilder) }

// sqlFunc is a leaf written by a function.
type sqlFunc func(sb *sqlBuilder)

func (f sqlFunc) render(sb *sqlBuilder) { f(sb) }

// and is a conjunction; empty, it is true.
type and []cond

func (a and) render(sb *sqlBuilder) {
	if len(a) == 0 {
		sb.w("1")
		return
	}
	for i, c := range a {
		if i > 0 {
			sb.w(" AND ")
		}
		c.render(sb)
	}
}

// onCandidate is a probe of the driver's candidate row (d.obj) instead of o.id.
type onCandidate struct{ c cond }

func (p onCandidate) render(sb *sqlBuilder) {
	defer func(old string) { sb.selfCol = old }(sb.selfCol)
	sb.selfCol = "d.obj"
	p.c.render(sb)
}

// unindexed is a condition SQLite must not drive the query from: it is checked on the rows
// other terms select.
type unindexed struct{ c cond }

func (u unindexed) render(sb *sqlBuilder) {
	defer func(old bool) { sb.noIndex = old }(sb.noIndex)
	sb.noIndex = true
	u.c.render(sb)
}

// where writes the query's filter as a conjunction ("1" when empty).
func (sb *sqlBuilder) where(q *query.Query) {
	c := sb.filter(&q.Filter)
	if len(q.AnyOf()) > 0 {
		c = append(c, anyOf{groups: q.AnyOf()})
	}
	c.render(sb)
}

// anyOf is true for the objects that match at least one group: "o.id IN" the union of each
// group's ids, each group a SELECT of its own that SQLite plans with the group's indexes.
// Like any "IN (SELECT ...)" term, the union is collected once; the rest of the query
// probes it.
type anyOf struct{ groups []*query.Filter }

func (a anyOf) render(sb *sqlBuilder) {
	sb.plus()
	sb.w("o.id IN (")
	a.union(sb, "UNION ALL")
	sb.w(")")
}

// union writes the ids of the objects that match each group, the groups' queries joined by
// op (UNION ALL, or UNION for a set without repeats).
func (a anyOf) union(sb *sqlBuilder, op string) {
	type flags struct {
		noIndex bool
		trigram trigramPlan
		probe   *probes
		selfCol string
	}
	defer func(old flags) {
		sb.noIndex, sb.trigram, sb.probe, sb.selfCol = old.noIndex, old.trigram, old.probe, old.selfCol
	}(flags{sb.noIndex, sb.trigram, sb.probe, sb.selfCol})
	for i, g := range a.groups {
		if i > 0 {
			sb.w(" ", op, " ")
		}
		var fp filterPlan
		if i < len(sb.groups) {
			fp = sb.groups[i]
		}
		// The group's own conditions choose its indexes, whatever the enclosing query does.
		sb.noIndex, sb.trigram, sb.probe, sb.selfCol = false, fp.trigram, fp.probe, ""
		conds := sb.filter(g)
		if d, ok := onlyDriven(conds); ok {
			// The driver's index and the probes decide alone: no table row is read.
			d.set(sb)
			continue
		}
		sb.w("SELECT o.id FROM ", sb.k.table, " AS o WHERE ")
		conds.render(sb)
	}
}

// idSet returns, when the query's filter can be answered without reading table rows (a
// driver and its probes, or anyOf groups alone), a function writing the query of the
// matching ids, each once.
func (sb *sqlBuilder) idSet(q *query.Query) (func(sb *sqlBuilder), bool) {
	conds := sb.filter(&q.Filter)
	if len(q.AnyOf()) == 0 {
		d, ok := onlyDriven(conds)
		return d.distinct, ok
	}
	if len(conds) > 0 {
		return nil, false
	}
	a := anyOf{groups: q.AnyOf()}
	return func(sb *sqlBuilder) { a.union(sb, "UNION") }, true
}

// filter returns a filter (the query's top level or an anyOf group) as a conjunction.
func (sb *sqlBuilder) filter(q *query.Filter) and {
	t := sb.k.table
	var conds and
	add := func(f sqlFunc) { conds = append(conds, f) }
	if len(q.Clusters()) > 0 {
		add(func(sb *sqlBuilder) {
			sb.w("o.cluster IN (")
			argList(sb, q.Clusters())
			sb.w(")")
		})
	}
	if len(q.Namespaces()) > 0 {
		add(func(sb *sqlBuilder) {
			sb.w("o.ns IN (")
			argList(sb, q.Namespaces())
			sb.w(")")
		})
	}
	if len(q.Names()) > 0 {
		add(func(sb *sqlBuilder) {
			sb.w("o.name IN (")
			argList(sb, q.Names())
			sb.w(")")
		})
	}
	if nc := q.NameContains(); nc != "" {
		if match, ok := trigramMatch(nc, sb.trigram); ok {
			// The trigram index finds the rows holding the plan's trigrams; lname confirms
			// the substring.
			add(func(sb *sqlBuilder) {
				sb.plus()
				sb.w("o.id IN (SELECT rowid FROM ", t, "_names WHERE ", t, "_names MATCH ")
				sb.arg(match)
				sb.w(") AND instr(o.lname, ")
				sb.arg(nc)
				sb.w(") > 0")
			})
		} else {
			// Shorter than a trigram, or held by too many names (see useTrigrams):
			// scanning the narrow lname index is much cheaper than reading table rows.
			add(func(sb *sqlBuilder) {
				sb.plus()
				sb.w("o.id IN (SELECT id FROM ", t, " INDEXED BY ", t, "_lname WHERE instr(lname, ")
				sb.arg(nc)
				sb.w(") > 0)")
			})
		}
	}
	if q.MatchesNoLabels() {
		add(func(sb *sqlBuilder) { sb.w("0") })
	}
	// With a chosen driver, the label and side-table terms other than the driver only
	// need the object's id: they are checked inside the driver's subquery (see driven).
	var probes, docs and
	for i, r := range q.LabelRequirements() {
		if pl := sb.probe; pl != nil {
			if pl.driverLabel == i {
				continue
			}
			if pl.labels[i] || negativeLabel(r.Op) {
				probes = append(probes, onCandidate{sqlFunc(func(sb *sqlBuilder) { sb.label(r, true) })})
				continue
			}
		}
		add(func(sb *sqlBuilder) { sb.label(r, false) })
	}
	if uid := q.OwnerUID(); uid != "" {
		add(func(sb *sqlBuilder) {
			sb.plus()
			sb.w("o.id IN (SELECT obj FROM ", t, "_owners WHERE uid = ")
			sb.arg(uid)
			sb.w(")")
		})
	}
	if q.OwnerChain() != nil {
		add(func(sb *sqlBuilder) {
			owners, ok := sb.chains[q]
			if !ok {
				sb.fail("owner", "unresolved chain")
				return
			}
			// The resolved owners are one bound JSON array.
			sb.plus()
			sb.w("o.id IN (SELECT obj FROM ", t, "_owners WHERE uid IN (SELECT value FROM json_each(")
			sb.arg(owners)
			sb.w(")))")
		})
	}
	if after := q.CreatedAfter(); after != nil {
		add(func(sb *sqlBuilder) {
			sb.w("o.created <> 0 AND o.created > ")
			sb.arg(after.Unix())
		})
	}
	if before := q.CreatedBefore(); before != nil {
		bound := before.Unix()
		if before.Nanosecond() > 0 {
			bound++
		}
		add(func(sb *sqlBuilder) {
			sb.w("o.created <> 0 AND o.created < ")
			sb.arg(bound)
		})
	}
	for i, p := range q.Predicates() {
		pl := sb.probe
		_, list := listOf(sb.k, p)
		switch {
		case pl == nil:
			add(func(sb *sqlBuilder) { sb.predicate(p, false) })
		case list && pl.driverPred == i:
		case list:
			probes = append(probes, onCandidate{sqlFunc(func(sb *sqlBuilder) { sb.predicate(p, true) })})
		default:
			// Read from the document, of the candidates that passed the probes only.
			docs = append(docs, unindexed{sqlFunc(func(sb *sqlBuilder) { sb.predicate(p, false) })})
		}
	}
	if sb.probe != nil {
		conds = append(conds, drivenTerm{q: q, probes: probes})
		conds = append(conds, docs...)
	}
	return conds
}

// onlyDriven returns the driven term of conds when it is their only condition.
func onlyDriven(conds and) (drivenTerm, bool) {
	if len(conds) != 1 {
		return drivenTerm{}, false
	}
	d, ok := conds[0].(drivenTerm)
	return d, ok
}

// label writes a label requirement. Equality and its negation are correlated probes of
// the (key, value, obj) primary key when probe is set or negated: one seek per candidate
// row, where "o.id IN (SELECT obj ...)" would first collect every object carrying the
// label (a quarter of the table for an unselective one).
func (sb *sqlBuilder) label(r query.LabelRequirement, probe bool) {
	t := sb.k.table
	exists := func(neg bool) {
		if neg {
			sb.w("NOT ")
		}
		sb.w("EXISTS (SELECT 1 FROM ", t, "_labels WHERE key = ")
		sb.arg(r.Key)
		sb.w(" AND value IN (")
		argList(sb, r.Values)
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
		sb.arg(r.Key)
		cond()
		sb.w(")")
	}
	values := func() {
		sb.w(" AND value IN (")
		argList(sb, r.Values)
		sb.w(")")
	}
	switch r.Op {
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
		in(false, func() { sb.w(" AND num > "); sb.arg(r.Num) })
	case selection.LessThan:
		in(false, func() { sb.w(" AND num < "); sb.arg(r.Num) })
	default:
		sb.fail("label", r.Op)
	}
}

// leafExprs writes the SQL value and JSON type of the selected value.
type leafExprs struct {
	v, t func()
}

// pathCond writes a condition on the stored document that is true when leaf holds for any
// value p selects.
func (sb *sqlBuilder) pathCond(p query.Path, leaf func(e leafExprs)) {
	_, indexed := sb.k.fields[p.String()]
	sb.segsCond("o.obj", false, p.Segments(), indexed, leaf)
}

// segsCond writes a condition that is true when leaf holds for any value segs select in
// the JSON document expression doc. elem is set when doc is a json_each alias; indexed
// when segs are a declared plain path of the document, whose expression index the
// condition must spell exactly.
func (sb *sqlBuilder) segsCond(doc string, elem bool, segs []query.Segment, indexed bool, leaf func(e leafExprs)) {
	i := 0
	for i < len(segs) && segs[i].Kind == query.SegmentKey {
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
	if segs[i].Kind == query.SegmentKeyed {
		sb.w(" AND ")
		want := []query.Value{query.NewValue(segs[i].Value)}
		sb.segsCond(a, true, []query.Segment{{Kind: query.SegmentKey, Key: segs[i].Key}}, false, func(e leafExprs) {
			sb.valueCond(query.OpIn, want, e)
		})
	}
	sb.w(" AND ")
	sb.segsCond(a, true, segs[i+1:], false, leaf)
	sb.w(")")
}

// drivenTerm is the driver's condition: "o.id IN" the driver's objects that pass every
// probe. The probes run inside the subquery on the driver's index entries, so a candidate
// that fails one is never looked up in the table: even a lookup that reads no column
// copies the row's page, costing about as much as the probes themselves.
type drivenTerm struct {
	q      *query.Filter
	probes and
}

func (d drivenTerm) render(sb *sqlBuilder) {
	sb.plus()
	sb.w("o.id IN (")
	d.set(sb)
	sb.w(")")
}

// set writes the query of the driver's objects that pass every probe (column obj). An
// object can appear more than once (a list path's items).
func (d drivenTerm) set(sb *sqlBuilder) { d.write(sb, "SELECT d.obj") }

// distinct is set with each object once.
func (d drivenTerm) distinct(sb *sqlBuilder) { d.write(sb, "SELECT DISTINCT d.obj") }

func (d drivenTerm) write(sb *sqlBuilder, sel string) {
	sb.w(sel, " FROM (")
	sb.termSet(d.q, sb.probe.driverLabel, sb.probe.driverPred)
	sb.w(") AS d")
	if len(d.probes) > 0 {
		sb.w(" WHERE ")
		d.probes.render(sb)
	}
}

// termSet writes a query of the objects (column obj) matching label requirement
// label or query.Predicate pred (the other is -1), reading its index alone; with both -1,
// the objects of the filter's namespaces, from the (ns, name, cluster) index. For a plain
// declared path the set is a superset (indexRange); the document check stays.
func (sb *sqlBuilder) termSet(q *query.Filter, label, pred int) {
	if label < 0 && pred < 0 {
		sb.w("SELECT id AS obj FROM ", sb.k.table, " WHERE ns IN (")
		argList(sb, q.Namespaces())
		sb.w(")")
		return
	}
	if label >= 0 {
		r := q.LabelRequirements()[label]
		sb.w("SELECT obj FROM ", sb.k.table, "_labels WHERE key = ")
		sb.arg(r.Key)
		switch r.Op {
		case selection.GreaterThan:
			sb.w(" AND num > ")
			sb.arg(r.Num)
		case selection.LessThan:
			sb.w(" AND num < ")
			sb.arg(r.Num)
		case selection.Exists:
		default:
			sb.w(" AND value IN (")
			argList(sb, r.Values)
			sb.w(")")
		}
		return
	}
	p := q.Predicates()[pred]
	if lf, ok := sb.k.lists[p.Path.String()]; ok {
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

func negativeLabel(op selection.Operator) bool {
	return op == selection.NotEquals || op == selection.NotIn || op == selection.DoesNotExist
}

// hasIndexRange reports whether p can select candidates from its expression index alone
// (see indexRange).
func hasIndexRange(k *kind, p query.Predicate) bool {
	if _, ok := k.fields[p.Path.String()]; !ok || p.From != nil {
		return false
	}
	switch p.Op {
	case query.OpExists, query.OpIn, query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		return true
	}
	return false
}

// predicate writes p. On a declared list path, probe makes it a correlated lookup in the
// side table (see sidePredicate); other paths are checked on the document.
func (sb *sqlBuilder) predicate(p query.Predicate, probe bool) {
	if lf, ok := listOf(sb.k, p); ok {
		sb.sidePredicate(p, lf, probe)
		return
	}
	if p.Negate {
		sb.w("NOT coalesce((")
	}
	if p.From != nil {
		sb.pathCond(p.Path, func(e leafExprs) { sb.refCond(p.Op, e, *p.From) })
	} else {
		sb.pathCond(p.Path, func(e leafExprs) { sb.valueCond(p.Op, p.Values, e) })
	}
	if p.Negate {
		sb.w("), 0)")
	}
}

// listOf returns the declared list field that answers p from the side table. A predicate
// with valueFrom compares with another value of the same document, so it reads the document.
func listOf(k *kind, p query.Predicate) (listField, bool) {
	if p.From != nil {
		return listField{}, false
	}
	lf, ok := k.lists[p.Path.String()]
	return lf, ok
}

// refCond writes the condition of Equals (OpIn) or a comparison between the selected value
// and the value at from in the same document. The typing rules are those of matchRef in
// eval.go: numbers numerically, text bytewise, booleans for equality, other types never.
func (sb *sqlBuilder) refCond(op query.Operator, e leafExprs, from query.Path) {
	jp := jsonPath(from.Segments())
	rv := func() { sb.w("json_extract(o.obj, "); sb.arg(jp); sb.w(")") }
	rt := func() { sb.w("json_type(o.obj, "); sb.arg(jp); sb.w(")") }
	sym := " = "
	if op != query.OpIn {
		s, ok := compareSyms[op]
		if !ok {
			sb.fail("valueFrom", op)
			return
		}
		sym = s
	}
	sb.w("((")
	e.t()
	sb.w(" IN ('integer', 'real') AND ")
	rt()
	sb.w(" IN ('integer', 'real') AND ")
	e.v()
	sb.w(sym)
	rv()
	sb.w(") OR (")
	e.t()
	sb.w(" = 'text' AND ")
	rt()
	sb.w(" = 'text' AND ")
	e.v()
	sb.w(sym)
	rv()
	sb.w(")")
	if op == query.OpIn {
		sb.w(" OR (")
		e.t()
		sb.w(" IN ('true', 'false') AND ")
		e.t()
		sb.w(" = ")
		rt()
		sb.w(")")
	}
	sb.w(")")
}

// indexRange writes a query of the ids of rows whose value in p's expression index
// (json_extract of the unaliased document) could match p, reading the index alone, or
// returns false when p's path is not a plain declared path or its operator has no such
// query. It skips the JSON type checks, which need the row; the caller also checks p
// exactly. Ranges are a UNION ALL, not an OR, which SQLite answers by reading table rows.
func (sb *sqlBuilder) indexRange(p query.Predicate) bool {
	if !hasIndexRange(sb.k, p) {
		return false
	}
	ix := sb.k.fields[p.Path.String()]
	v := "json_extract(obj, " + sqlString(jsonPath(p.Path.Segments())) + ")"
	from := func() { sb.w("SELECT id AS obj FROM ", sb.k.table, " INDEXED BY ", ix, " WHERE ", v) }
	switch p.Op {
	case query.OpExists:
		from()
		sb.w(" IS NOT NULL")
	case query.OpIn:
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
		for _, tv := range p.Values {
			add(tv.Text)
			if tv.IsNum {
				add(numArg(tv))
			}
			// json_extract gives 1 and 0 for JSON true and false.
			if tv.IsTrue {
				add(int64(1))
			}
			if tv.IsFalse {
				add(int64(0))
			}
		}
		sb.w(")")
	case query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		sym := compareSyms[p.Op]
		tv := p.Values[0]
		up := p.Op == query.OpGreaterThan || p.Op == query.OpGreaterThanOrEqual
		// Text, bounded to the text range (json_extract gives text for strings, objects and
		// lists).
		from()
		sb.w(sym)
		sb.arg(tv.Text)
		if up {
			sb.w(" AND ", v, " < x''")
		} else {
			sb.w(" AND ", v, " >= ''")
		}
		if tv.IsNum {
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

var compareSyms = map[query.Operator]string{
	query.OpGreaterThan: " > ", query.OpGreaterThanOrEqual: " >= ", query.OpLessThan: " < ", query.OpLessThanOrEqual: " <= ",
}

// valueCond writes the positive operator's condition on one value. The typing rules are
// those of valueEquals and compareValue in eval.go.
func (sb *sqlBuilder) valueCond(op query.Operator, values []query.Value, e leafExprs) {
	switch op {
	case query.OpExists:
		sb.w("(")
		e.t()
		sb.w(" <> 'null')")
	case query.OpIn:
		var nums []query.Value
		hasTrue, hasFalse := false, false
		for _, v := range values {
			if v.IsNum {
				nums = append(nums, v)
			}
			hasTrue = hasTrue || v.IsTrue
			hasFalse = hasFalse || v.IsFalse
		}
		sb.w("((")
		e.v()
		sb.w(" IN (")
		for i, v := range values {
			if i > 0 {
				sb.w(", ")
			}
			sb.arg(v.Text)
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
	case query.OpContains, query.OpStartsWith:
		sb.w("(")
		e.t()
		sb.w(" = 'text' AND (")
		for i, v := range values {
			if i > 0 {
				sb.w(" OR ")
			}
			if op == query.OpContains {
				sb.w("instr(CAST(")
				e.v()
				sb.w(" AS BLOB), ")
				sb.arg([]byte(v.Text))
				sb.w(") > 0")
			} else {
				sb.w("substr(CAST(")
				e.v()
				sb.w(" AS BLOB), 1, ")
				sb.arg(int64(len(v.Text)))
				sb.w(") = ")
				sb.arg([]byte(v.Text))
			}
		}
		sb.w("))")
	case query.OpGreaterThan, query.OpGreaterThanOrEqual, query.OpLessThan, query.OpLessThanOrEqual:
		sym := compareSyms[op]
		v := values[0]
		sb.w("((")
		e.t()
		sb.w(" = 'text' AND ")
		e.v()
		sb.w(sym)
		sb.arg(v.Text)
		sb.w(")")
		if op == query.OpLessThan || op == query.OpLessThanOrEqual {
			// Numbers sort before all text: bound the text range below.
			sb.w(" AND ")
			e.v()
			sb.w(" >= ''")
		}
		if v.IsNum {
			sb.w(" OR (")
			e.t()
			sb.w(" IN ('integer', 'real') AND ")
			e.v()
			sb.w(sym)
			sb.num(v)
			if op == query.OpGreaterThan || op == query.OpGreaterThanOrEqual {
				// Text sorts after all numbers: bound the numeric range above.
				sb.w(" AND ")
				e.v()
				sb.w(" < ''")
			}
			sb.w(")")
		}
		sb.w(")")
	default:
		sb.fail("field", op)
	}
}

func (sb *sqlBuilder) num(v query.Value) {
	if v.IsInt {
		sb.arg(v.Int)
	} else {
		sb.arg(v.Float)
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
	jp := jsonPath(sf.path.Segments())
	if _, ok := sb.k.fields[sf.path.String()]; ok {
		sb.w("json_extract(o.obj, ", sqlString(jp), ")")
		return
	}
	sb.w("json_extract(o.obj, ")
	sb.arg(jp)
	sb.w(")")
}

// sortField is a key of the total order a page is cut from: a sort key of the query, or
// one of the uid and row id tiebreakers.
type sortField struct {
	path query.Path // "" for the tiebreakers
	col  string     // a column of the kind's table for well-known paths, "" for JSON paths
	desc bool
}

// column returns the table column holding the value at p, or "" when it is read from the
// document.
func column(p query.Path) string {
	switch {
	case p.Is("metadata", "name"):
		return "name"
	case p.Is("metadata", "namespace"):
		return "ns"
	case p.Is("metadata", "creationTimestamp"):
		return "created"
	case p.Is("metadata", "uid"):
		return "uid"
	case p.Is(query.ClusterPath):
		return "cluster"
	}
	return ""
}

// keyFields returns the query's sort keys followed by the uid and rowid tiebreakers, which
// follow the direction of the first key so uniform orders can use one index.
func keyFields(q *query.Query) []sortField {
	out := make([]sortField, 0, len(q.Sort())+2)
	hasNS, hasName, hasCluster, nameDesc := false, false, false, false
	for _, k := range q.Sort() {
		sf := sortField{path: k.Path, col: column(k.Path), desc: k.Desc}
		hasNS = hasNS || sf.col == "ns"
		hasName = hasName || sf.col == "name"
		hasCluster = hasCluster || sf.col == "cluster"
		if sf.col == "name" {
			nameDesc = sf.desc
		}
		out = append(out, sf)
	}
	if hasNS && hasName {
		// Cluster, namespace and name identify an object: the order is total with the
		// cluster after them, and leaving out the other tiebreakers keeps keyset conditions
		// inside the (ns, name, cluster) index.
		if !hasCluster {
			out = append(out, sortField{col: "cluster", desc: nameDesc})
		}
		return out
	}
	desc := out[0].desc
	return append(out, sortField{col: "uid", desc: desc}, sortField{col: "id", desc: desc})
}

func nullable(sf sortField) bool { return sf.col == "" }

// after writes the keyset condition "row sorts strictly after cursor".
// With seek, a leading range on the first key lets SQLite seek in its index; noIndex
// keeps SQLite from driving the rest of the condition (an OR per key) from an index,
// which it does by collecting row ids and reading their rows.
func (sb *sqlBuilder) after(keys []sortField, cursor []any, seek, noIndex bool) {
	first, c0 := keys[0], cursor[0]
	if c0 != nil && seek {
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

// jsonPath renders key segments as an SQLite JSON path. Every key is double-quoted; the
// path grammar guarantees keys contain no quote or backslash.
func jsonPath(segs []query.Segment) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range segs {
		b.WriteString(`."`)
		b.WriteString(s.Key)
		b.WriteByte('"')
	}
	return b.String()
}
