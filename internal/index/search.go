package index

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/kubesift/kubesift/internal/query"
	"github.com/kubesift/kubesift/internal/token"
)

// Ref identifies a matching object.
type Ref struct {
	Namespace, Name, UID, ResourceVersion string
	// Cluster is the cluster the object was read from: "" for the local cluster.
	Cluster string
}

// Page is one page of results.
type Page struct {
	Items []Ref
	// Total counts all matches, in the same read transaction as Items.
	Total int64
	// Remaining counts the matches after this page.
	Remaining int64
	// Continue fetches the next page; "" on the last page.
	Continue string
	// Documents holds the stored JSON document of each item, in the same order, when the page
	// comes from SearchDocuments; nil otherwise.
	Documents [][]byte
	// Facets holds the counts of the query's facets, in its order, over all matches.
	Facets []FacetCounts
	// OwnerKinds names the kinds (as "Kind.group") whose ownerReferences an owner chain of the
	// query was followed through: every indexed kind of the snapshot. Nil without a chain.
	OwnerKinds []string
}

// Search returns the page of q's matches that follows continueToken ("" for the first
// page). Items, Total and Remaining come from one consistent snapshot.
func (s *Store) Search(ctx context.Context, q *query.Query, continueToken string) (Page, error) {
	return s.searchTx(ctx, q, continueToken, false)
}

// SearchDocuments is Search that also returns the stored document of every item, read in the
// same snapshot as the page. Documents are stored without managedFields and the
// last-applied-configuration annotation (and Secrets without data).
func (s *Store) SearchDocuments(ctx context.Context, q *query.Query, continueToken string) (Page, error) {
	return s.searchTx(ctx, q, continueToken, true)
}

func (s *Store) searchTx(ctx context.Context, q *query.Query, continueToken string, documents bool) (Page, error) {
	if q == nil {
		return Page{}, query.Errorf("", query.ErrInvalidQuery, "nil query")
	}
	if s.closed.Load() {
		return Page{}, errClosed
	}
	keys := keyFields(q)
	var cursor []any
	if continueToken != "" {
		var err error
		cursor, err = token.Decode(s.tokenKey, q.Fingerprint(), len(keys), continueToken)
		if err != nil {
			return Page{}, query.Errorf("continue", query.ErrInvalidContinue, "%s", err)
		}
	}
	c, err := s.acquire(ctx)
	if err != nil {
		return Page{}, err
	}
	defer s.release(c)
	old := c.db.SetInterrupt(ctx)
	defer c.db.SetInterrupt(old)
	defer func() {
		if !c.db.GetAutocommit() {
			_ = c.db.Exec(`ROLLBACK`)
		}
	}()
	k, err := s.begin(ctx, c, q.GVK())
	if err != nil {
		return Page{}, err
	}
	if !k.namespaced && len(q.Namespaces()) > 0 {
		return Page{}, query.Errorf("namespaces", query.ErrInvalidValue, "kind %s is cluster-scoped", q.GVK().Kind)
	}
	page, err := s.search(c, k, q, keys, cursor)
	if err != nil {
		return Page{}, err
	}
	if documents {
		if page.Documents, err = readDocuments(c, k, page.Items); err != nil {
			return Page{}, err
		}
	}
	return page, c.db.Exec(`COMMIT`)
}

// readDocuments reads the stored document of each item through the (ns, name, cluster) index.
func readDocuments(c *conn, k *kind, items []Ref) ([][]byte, error) {
	st, err := c.prepare(`SELECT json(obj) FROM ` + k.table + ` WHERE ns = ? AND name = ? AND cluster = ?`)
	if err != nil {
		return nil, fmt.Errorf("preparing the document query: %w", err)
	}
	defer st.Reset()
	docs := make([][]byte, len(items))
	for i, it := range items {
		if err := st.Reset(); err != nil {
			return nil, err
		}
		if err := bind(st, []any{it.Namespace, it.Name, it.Cluster}); err != nil {
			return nil, err
		}
		if !st.Step() {
			if err := st.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("object %s/%s vanished inside a read transaction", it.Namespace, it.Name)
		}
		docs[i] = append([]byte(nil), st.ColumnRawText(0)...)
	}
	return docs, nil
}

// begin starts a read transaction on c and returns the kind as its snapshot declares it.
// Register commits a new declaration and then publishes the new kind; a search that read
// the old one next to the new snapshot (or the reverse) would name a dropped index or read
// a dropped side-table field, so begin compares the kind with the snapshot's kinds row and
// starts over until they agree.
func (s *Store) begin(ctx context.Context, c *conn, gvk schema.GroupVersionKind) (*kind, error) {
	for {
		k := s.kind(gvk)
		if k == nil {
			return nil, query.Errorf("target", ErrKindNotRegistered, "kind %s is not indexed", gvk)
		}
		if err := c.db.Exec(`BEGIN`); err != nil {
			return nil, err
		}
		same, err := k.current(c)
		if err != nil || same {
			return k, err
		}
		if err := c.db.Exec(`ROLLBACK`); err != nil {
			return nil, err
		}
		// Register publishes the kind right after its commit; wait for it.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// current reports whether k is the declaration of its kind in c's snapshot.
func (k *kind) current(c *conn) (bool, error) {
	st, err := c.prepare(`SELECT namespaced, fields FROM kinds WHERE id = ?`)
	if err != nil {
		return false, err
	}
	defer st.Reset()
	if err := bind(st, []any{k.id}); err != nil {
		return false, err
	}
	if !st.Step() {
		return false, st.Err()
	}
	return st.ColumnBool(0) == k.namespaced && st.ColumnText(1) == k.declared, nil
}

func (s *Store) search(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any) (Page, error) {
	if err := s.checkNumeric(c, k, q); err != nil {
		return Page{}, err
	}
	fp, err := planFilters(c, k, q)
	if err != nil {
		return Page{}, err
	}
	// A filter that no index narrows reads every row to count its matches. With few
	// matches, the page would read them all again (see walkPlan): searchOneScan counts and
	// pages in one scan. With many, the page walks the sort order and stops early, which
	// costs less than sorting every match. The total of the query's last run, when known,
	// tells the two apart; unknown, one scan is the safer guess.
	var scanKey string
	if cursor == nil && scansEveryRow(k, q) {
		scanKey = matchesKey(k, q, fp)
		n := k.count.Load()
		if m, known := k.estimates.get(scanKey, n, n+1); !known || !walkPlan(n, m, q.Limit()) {
			page, err := s.searchOneScan(c, k, q, keys, fp)
			if err == nil {
				k.estimates.put(scanKey, n, page.Total, n+1)
			}
			return page, err
		}
	}
	if cursor == nil && fewNameMatches(q, fp) {
		return s.searchOneScan(c, k, q, keys, fp)
	}
	var total int64
	if q.Unfiltered() {
		total, err = storedCount(c, k)
	} else if soleLabel(q) {
		total, err = labelCount(c, k, q, 0)
	} else {
		total, err = countQuery(c, k, q, nil, nil, fp)
	}
	if err != nil {
		return Page{}, err
	}
	if scanKey != "" {
		k.estimates.put(scanKey, k.count.Load(), total, k.count.Load()+1)
	}
	walk := walkPlan(k.count.Load(), total, q.Limit())
	ties := sortsTies(k, keys, cursor, walk)
	after := total
	if cursor != nil && !ties {
		if after, err = countAfter(c, k, q, keys, cursor, fp, total, walk); err != nil {
			return Page{}, err
		}
	}
	page := Page{Total: total}
	if fp.chains != nil {
		page.OwnerKinds = ownerKinds(fp.ownerKinds)
	}
	if len(q.Facets()) > 0 {
		if page.Facets, err = facets(c, k, q, fp, total); err != nil {
			return Page{}, err
		}
	}
	if after == 0 {
		return page, nil
	}
	var last []any
	var skipped int64
	for i, part := range pageParts(k, keys, cursor, walk) {
		part.skipTies = ties && i == 0
		var n int64
		last, n, err = readPart(c, k, q, keys, part, walk, fp, &page)
		skipped += n
		if err != nil || len(page.Items) == q.Limit() {
			break
		}
	}
	if err != nil {
		return Page{}, err
	}
	if ties {
		if after, err = afterTies(c, k, q, keys[0], cursor[0], fp, total, skipped); err != nil {
			return Page{}, err
		}
	}
	page.Remaining = max(after-int64(len(page.Items)), 0)
	if page.Remaining > 0 && last != nil {
		page.Continue = token.Encode(s.tokenKey, q.Fingerprint(), last)
	}
	return page, nil
}

// scansEveryRow reports whether no index can narrow q's filter: it compares only paths
// that are not declared (read from every object's document), perhaps within namespaces, and
// asks for no counts by value. Counting the matches then reads every row of the kind (of
// the namespaces), and so would reading the page after it: searchOneScan does both at once.
func scansEveryRow(k *kind, q *query.Query) bool {
	f := &q.Filter
	if len(f.Predicates()) == 0 || len(q.AnyOf()) > 0 || len(q.Facets()) > 0 || len(f.LabelRequirements()) > 0 ||
		f.MatchesNoLabels() || len(f.Names()) > 0 || f.NameContains() != "" || f.OwnerUID() != "" ||
		f.OwnerChain() != nil || f.CreatedAfter() != nil || f.CreatedBefore() != nil {
		return false
	}
	for _, p := range f.Predicates() {
		if _, declared := k.fields[p.Path.String()]; declared {
			return false
		}
		if _, list := listOf(k, p); list {
			return false
		}
	}
	return true
}

// fewNameMatches reports whether a first page of q is best answered in one statement
// because the trigram index bounds its matches (see useTrigrams): counting them and then
// reading the page would find and confirm the same few candidates twice. Facets and owner
// chains need the total first; an anyOf group may match outside the trigram's rows.
func fewNameMatches(q *query.Query, fp filterPlan) bool {
	return fp.trigram != noTrigrams && len(q.AnyOf()) == 0 && len(q.Facets()) == 0 && q.OwnerChain() == nil
}

// matchesKey names the matches of q's filter in the kind's estimates.
func matchesKey(k *kind, q *query.Query, fp filterPlan) string {
	sb := newBuilder(k, fp)
	sb.w("matches ")
	sb.where(q)
	return fmt.Sprintf("%s %q", sb.b.String(), sb.args)
}

// searchOneScan answers a first page in one statement, when its filter no index narrows
// (see scansEveryRow) or when the matches are few (see fewNameMatches): the matches are
// counted by a window over the same scan that finds them, and sorted for the page, where a
// count and then a page would read every row twice.
func (s *Store) searchOneScan(c *conn, k *kind, q *query.Query, keys []sortField, fp filterPlan) (Page, error) {
	st, err := oneScanSQL(k, q, keys, fp).prepare(c)
	if err != nil {
		return Page{}, err
	}
	defer st.Reset()
	page := &Page{}
	var last []any
	for st.Step() {
		page.Total = st.ColumnInt64(5 + len(keys))
		if full := appendRow(st, page, keys, q.Limit()); full != nil {
			last = full
		}
	}
	if err := st.Err(); err != nil {
		return Page{}, err
	}
	page.Remaining = page.Total - int64(len(page.Items))
	if page.Remaining > 0 && last != nil {
		page.Continue = token.Encode(s.tokenKey, q.Fingerprint(), last)
	}
	return *page, nil
}

// appendRow appends the reference in st's first five columns to page and, when that fills
// the page's limit, returns the row's sort key values (the columns after them), else nil.
func appendRow(st *sqlite3.Stmt, page *Page, keys []sortField, limit int) []any {
	page.Items = append(page.Items, Ref{
		Namespace: st.ColumnText(0), Name: st.ColumnText(1), UID: st.ColumnText(2), ResourceVersion: st.ColumnText(3),
		Cluster: st.ColumnText(4),
	})
	if len(page.Items) != limit {
		return nil
	}
	last := make([]any, len(keys))
	for i := range keys {
		last[i] = columnValue(st, 5+i)
	}
	return last
}

// oneScanSQL writes searchOneScan's statement: the first page's columns and sort keys, then
// the number of matches.
func oneScanSQL(k *kind, q *query.Query, keys []sortField, fp filterPlan) *sqlBuilder {
	sb := newBuilder(k, fp)
	sb.w("SELECT o.ns, o.name, o.uid, o.rv, o.cluster")
	for _, key := range keys {
		sb.w(", ")
		sb.sortExpr(key, false)
	}
	sb.w(", count(*) OVER () FROM ", k.table, " AS o WHERE ")
	sb.where(q)
	sb.orderBy(keys, false)
	sb.w(" LIMIT ")
	sb.arg(int64(q.Limit()))
	return sb
}

// readPart appends the rows of one part of the order to page, up to the query's limit, and
// returns the sort key values of the row that fills the page (nil when it is not full) and,
// with part.skipTies, the number of rows it skipped.
func readPart(c *conn, k *kind, q *query.Query, keys []sortField, part orderPart, walk bool, fp filterPlan,
	page *Page) ([]any, int64, error) {
	limit := q.Limit() - len(page.Items)
	if part.skipTies {
		limit = -1 // no limit: the skipped rows come first
	}
	sql, args, err := buildPageSQL(k, q, keys, part, walk, fp, limit)
	if err != nil {
		return nil, 0, err
	}
	st, err := c.prepare(sql)
	if err != nil {
		return nil, 0, fmt.Errorf("preparing page query: %w", err)
	}
	defer st.Reset()
	if err := bind(st, args); err != nil {
		return nil, 0, err
	}
	var last []any
	var skipped int64
	for len(page.Items) < q.Limit() && st.Step() {
		if part.skipTies && st.ColumnInt64(5+len(keys)) == 0 {
			skipped++
			continue
		}
		if full := appendRow(st, page, keys, q.Limit()); full != nil {
			last = full
		}
	}
	return last, skipped, st.Err()
}

// sortsTies reports whether the page after cursor reads the rows that tie with the cursor's
// first key, before the cursor, instead of having SQLite skip them. That is when the first
// key is a declared path and a later sort key is not in its index (spec.replicas, then
// name): SQLite reads the table row of each of those rows to compare the later key, once
// to cut the page and once more to count the matches before the cursor. Reading them
// with the page counts them on the way (see afterTies); the count that is left only
// compares the first key, from its index.
func sortsTies(k *kind, keys []sortField, cursor []any, walk bool) bool {
	_, declared := k.fields[keys[0].path.String()]
	return walk && declared && cursor != nil && cursor[0] != nil && keys[1].col != "uid"
}

// afterTies counts the matches after the cursor, given the total and the number of matches
// that tie with the cursor's first value c0 and sort at or before it (read with the page).
// The matches whose first key sorts before c0 are counted first, stopping past half the
// total; past it, those after c0 and those equal to it are counted instead. Each count
// compares the first key only, by a range of its index.
func afterTies(c *conn, k *kind, q *query.Query, first sortField, c0 any, fp filterPlan, total, ties int64) (int64, error) {
	count := func(cmp string, limit int64) (int64, error) {
		return runInt(c, firstKeySQL(k, q, fp, first, cmp, c0, limit))
	}
	// In the order of the first key, "before c0" is a greater value descending; missing
	// values come first ascending and last descending.
	beforeCmp, afterCmp := " < ", " > "
	if first.desc {
		beforeCmp, afterCmp = afterCmp, beforeCmp
	}
	half := total / 2
	before, err := count(beforeCmp, half+1)
	if err == nil && !first.desc && before <= half {
		var missing int64
		missing, err = count("", half+1-before)
		before += missing
	}
	if err != nil {
		return 0, err
	}
	if before <= half {
		return total - before - ties, nil
	}
	after, err := count(afterCmp, 0)
	if err != nil {
		return 0, err
	}
	if first.desc {
		missing, err := count("", 0)
		if err != nil {
			return 0, err
		}
		after += missing
	}
	equal, err := count(" = ", 0)
	return after + equal - ties, err
}

// firstKeySQL writes the count of the matches whose first sort key compares with value as
// cmp says (" < ", " > ", " = ", or "" for a missing key), stopping at limit when limit > 0.
func firstKeySQL(k *kind, q *query.Query, fp filterPlan, first sortField, cmp string, value any, limit int64) *sqlBuilder {
	sb := newBuilder(k, fp)
	sb.w("SELECT count(*) FROM (SELECT 1 FROM ", k.table, " AS o WHERE ")
	sb.noIndex = true
	sb.where(q)
	sb.noIndex = false
	sb.w(" AND ")
	sb.sortExpr(first, false)
	if cmp == "" {
		sb.w(" IS NULL")
	} else {
		sb.w(cmp)
		sb.arg(value)
	}
	if limit > 0 {
		sb.w(" LIMIT ")
		sb.arg(limit)
	}
	sb.w(")")
	return sb
}

// walkPlan decides whether to walk the sort order's index and filter rows (cheap when many
// rows match: about limit*n/total rows are visited) or to collect all matches through the
// filter's indexes and sort them (cheap when few match: total rows are sorted).
func walkPlan(n, total int64, limit int) bool {
	return total*total > int64(limit)*n
}

func columnValue(st *sqlite3.Stmt, i int) any {
	switch st.ColumnType(i) {
	case sqlite3.INTEGER:
		return st.ColumnInt64(i)
	case sqlite3.FLOAT:
		return st.ColumnFloat(i)
	case sqlite3.TEXT:
		return st.ColumnText(i)
	case sqlite3.BLOB:
		return st.ColumnBlob(i, nil)
	}
	return nil
}

func storedCount(c *conn, k *kind) (int64, error) {
	st, err := c.prepare(`SELECT objects FROM kinds WHERE id = ?`)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := bind(st, []any{k.id}); err != nil {
		return 0, err
	}
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), nil
}

// planFilters plans the query's top-level filter and each of its anyOf groups.
func planFilters(c *conn, k *kind, q *query.Query) (filterPlan, error) {
	var fp filterPlan
	for i, f := range q.Filters() {
		trigram, err := useTrigrams(c, k, f)
		if err != nil {
			return filterPlan{}, err
		}
		probe, err := chooseDriver(c, k, f)
		if err != nil {
			return filterPlan{}, err
		}
		if i == 0 {
			fp.trigram, fp.probe = trigram, probe
		} else {
			fp.groups = append(fp.groups, filterPlan{trigram: trigram, probe: probe})
		}
		if f.OwnerChain() != nil {
			if fp.chains == nil {
				kinds, err := snapshotKinds(c)
				if err != nil {
					return filterPlan{}, err
				}
				fp.chains, fp.ownerKinds = map[*query.Filter]string{}, kinds
			}
			owners, err := resolveOwners(c, fp.ownerKinds, q, f)
			if err != nil {
				return filterPlan{}, err
			}
			fp.chains[f] = owners
		}
	}
	return fp, nil
}

// useTrigrams decides how nameContains is answered. The trigram index finds few matches
// fast, but every candidate costs a read of its table row (~2 KB, rarely cached): for a
// substring in many names, scanning the narrow lname index is cheaper. A bounded count of
// the candidates tells the two apart.
//
// One trigram is tried first, the one leadTrigramOf guesses to be the rarest: FTS5 answers
// an AND of trigrams by stepping through the rows of each, and a word that many names share
// ("ledger" in ledger-12) has thousands. That walk slows down where the rows holding the
// rare trigram are not adjacent, as when several clusters' objects interleave (a 7-trigram
// AND took 0.6 ms over one cluster's 100,000 Templates and 1.9 ms over the same objects in
// three clusters; one trigram took 0.1 ms in both). When the guess has too many rows, every
// trigram is matched.
func useTrigrams(c *conn, k *kind, q *query.Filter) (trigramPlan, error) {
	limit := max(trigramProbeMin, k.count.Load()/trigramProbeFraction)
	for _, plan := range []trigramPlan{leadTrigram, everyTrigram} {
		match, ok := trigramMatch(q.NameContains(), plan)
		if !ok {
			return noTrigrams, nil
		}
		n, err := trigramCandidates(c, k, match, limit)
		if err != nil || n < limit {
			return plan, err
		}
		if len(trigramsOf(q.NameContains())) == 1 {
			break // the same query again
		}
	}
	return noTrigrams, nil
}

// trigramCandidates counts the rows of k's trigram index that match, up to limit.
func trigramCandidates(c *conn, k *kind, match string, limit int64) (int64, error) {
	st, err := c.prepare(`SELECT count(*) FROM (SELECT 1 FROM ` + k.table + `_names WHERE ` + k.table + `_names MATCH ? LIMIT ?)`)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := bind(st, []any{match, limit}); err != nil {
		return 0, err
	}
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), nil
}

// Above n/trigramProbeFraction candidates (at least trigramProbeMin) reading rows costs
// more than scanning the lname index: measured ~8 µs per row read against ~0.15 µs per
// index entry scanned, at 100k objects.
const (
	trigramProbeMin      = 200
	trigramProbeFraction = 50
)

// chooseDriver picks the term that drives the filter among the positive label
// requirements and the positive predicates on declared paths, when there are at least
// two. SQLite cannot tell them apart: sqlite_stat1 holds one average per index prefix,
// not a count per label value, and it would collect the matches of every "IN (SELECT
// ...)" term, a quarter of the table for an unselective label. A capped count of each
// term's index entries (index only, ~0.15 µs per entry) finds the smallest; the others
// become probes of each candidate row (see sqlBuilder.label, sidePredicate, predicate).
// The query's namespaces are a term too (the objects they hold, from the (ns, name)
// index): a selective label within one namespace is then driven from the namespace's
// objects, not from every object in the cluster carrying the label.
// The counts run in the search's read transaction. nil: at most one such term.
func chooseDriver(c *conn, k *kind, q *query.Filter) (*probes, error) {
	type term struct {
		label bool
		i     int // -1 with label false: the namespaces
	}
	var terms []term
	if len(q.Namespaces()) > 0 {
		terms = append(terms, term{i: -1})
	}
	for i, r := range q.LabelRequirements() {
		switch r.Op {
		case selection.Equals, selection.DoubleEquals, selection.In, selection.Exists, selection.GreaterThan, selection.LessThan:
			terms = append(terms, term{label: true, i: i})
		}
	}
	for i, p := range q.Predicates() {
		if p.Negate {
			continue
		}
		if _, ok := listOf(k, p); ok {
			terms = append(terms, term{i: i})
		} else if hasIndexRange(k, p) {
			terms = append(terms, term{i: i})
		}
	}
	if len(terms) < 2 {
		return nil, nil
	}
	estimate := func(t term, limit int64) (int64, error) {
		sb := &sqlBuilder{k: k}
		sb.w("SELECT count(*) FROM (")
		if t.label {
			sb.termSet(q, t.i, -1)
		} else {
			sb.termSet(q, -1, t.i)
		}
		key := fmt.Sprintf("%s %q", sb.b.String(), sb.args)
		if m, ok := k.estimates.get(key, k.count.Load(), limit); ok {
			return m, nil
		}
		sb.w(" LIMIT ")
		sb.arg(limit)
		sb.w(")")
		st, err := sb.prepare(c)
		if err != nil {
			return 0, fmt.Errorf("preparing estimate: %w", err)
		}
		defer st.Reset()
		if !st.Step() {
			return 0, st.Err()
		}
		m := st.ColumnInt64(0)
		k.estimates.put(key, k.count.Load(), m, limit)
		return m, nil
	}
	n := k.count.Load()
	best, bestCount := -1, int64(0)
	// A first round capped low keeps the cost of unselective terms small; when every term
	// reaches the cap, a second one counts them, each capped at the smallest count so far.
	for _, limit := range []int64{max(countProbeMin, n/countProbeFraction), n + 1} {
		for j, t := range terms {
			capped := limit
			if best >= 0 {
				capped = min(limit, bestCount)
			}
			m, err := estimate(t, capped)
			if err != nil {
				return nil, err
			}
			if best < 0 || m < bestCount {
				best, bestCount = j, m
			}
		}
		if bestCount < limit {
			break
		}
		best = -1
	}
	if best < 0 {
		best = 0
	}
	pr := &probes{labels: make([]bool, len(q.LabelRequirements())), preds: make([]bool, len(q.Predicates())), driverLabel: -1, driverPred: -1}
	for j, t := range terms {
		switch {
		case j == best && t.label:
			pr.driverLabel = t.i
		case j == best:
			pr.driverPred = t.i // -1: the namespaces
		case t.label:
			pr.labels[t.i] = true
		case t.i >= 0:
			pr.preds[t.i] = true
		}
	}
	return pr, nil
}

// estimateCache remembers the capped counts chooseDriver measured, per term. An estimate
// only chooses the plan, never the answer, so one measured in the last estimateTTL while
// the kind held about as many objects (within an eighth) is reused: a query that is
// re-run on every change does not recount its unselective terms each time.
type estimateCache struct {
	mu sync.Mutex
	m  map[string]estimate
}

type estimate struct {
	n, count, limit int64
	at              time.Time
}

const (
	estimateTTL     = 30 * time.Second
	estimateEntries = 1024
)

// get returns the count of term key capped at limit, if known.
func (c *estimateCache) get(key string, n, limit int64) (int64, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || time.Since(e.at) > estimateTTL || e.n-n > n/8 || n-e.n > n/8 {
		return 0, false
	}
	if e.count < e.limit || e.limit >= limit {
		return min(e.count, limit), true
	}
	return 0, false
}

func (c *estimateCache) put(key string, n, count, limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= estimateEntries {
		c.m = map[string]estimate{}
	}
	c.m[key] = estimate{n: n, count: count, limit: limit, at: time.Now()}
}

// soleLabel reports whether the query's only condition is one positive label requirement
// (requirement 0): its index entries are its matches, one per object, so counting them is
// counting the matches without reading the table or building the set of their ids.
func soleLabel(q *query.Query) bool {
	f := &q.Filter
	reqs := f.LabelRequirements()
	if len(reqs) != 1 || len(q.AnyOf()) > 0 || len(f.Namespaces()) > 0 || len(f.Names()) > 0 || f.NameContains() != "" ||
		f.MatchesNoLabels() || len(f.Predicates()) > 0 || f.OwnerUID() != "" || f.OwnerChain() != nil ||
		f.CreatedAfter() != nil || f.CreatedBefore() != nil {
		return false
	}
	switch reqs[0].Op {
	case selection.Equals, selection.DoubleEquals, selection.In, selection.Exists, selection.GreaterThan, selection.LessThan:
		return true
	}
	return false
}

// labelCount counts the index entries of label requirement i (see soleLabel).
func labelCount(c *conn, k *kind, q *query.Query, i int) (int64, error) {
	return runInt(c, labelCountSQL(k, q, i))
}

func labelCountSQL(k *kind, q *query.Query, i int) *sqlBuilder {
	sb := &sqlBuilder{k: k}
	sb.w("SELECT count(*) FROM (")
	sb.termSet(&q.Filter, i, -1)
	sb.w(")")
	return sb
}

// runInt runs a query of one integer.
func runInt(c *conn, sb *sqlBuilder) (int64, error) {
	st, err := sb.prepare(c)
	if err != nil {
		return 0, fmt.Errorf("preparing count query: %w", err)
	}
	defer st.Reset()
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), nil
}

// countAfter counts the matches after cursor, given the total. When the page walks the
// first sort key's index (many matches, see walkPlan), the matches at or before the cursor
// are counted first along the same index, stopping past half the total: they cost what the
// pages before the cursor cost, so early pages, where readers spend most of their time, no
// longer count the rest of the order. Past half, the matches after the cursor are fewer, and
// those are counted instead. With few matches the filter's indexes count them faster.
func countAfter(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan, total int64, walk bool) (int64, error) {
	if _, declared := k.fields[keys[0].path.String()]; walk && total > 0 && (keys[0].col != "" || declared) {
		half := total / 2
		before, err := countAtOrBefore(c, k, q, keys, cursor, fp, half+1)
		if err != nil {
			return 0, err
		}
		if before <= half {
			return total - before, nil
		}
	}
	return countQuery(c, k, q, keys, cursor, fp)
}

// countAtOrBefore counts the matches that sort at or before cursor, stopping at limit. Like a
// page, it reads the parts of the order (see orderPart) each by a range of the first key's
// index: the parts before the cursor's whole, the cursor's own up to the cursor.
func countAtOrBefore(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan, limit int64) (int64, error) {
	first := keys[0]
	parts := []partRows{allRows}
	if nullable(first) {
		// In the order of the first key: missing values first ascending, last descending.
		parts = []partRows{missingRows, presentRows}
		if first.desc {
			parts = []partRows{presentRows, missingRows}
		}
	}
	var n int64
	for _, part := range parts {
		own := part == allRows || (part == missingRows) == (cursor[0] == nil)
		m, err := runInt(c, atOrBeforeSQL(k, q, keys, cursor, fp, part, own, limit-n))
		if err != nil {
			return 0, err
		}
		n += m
		if own || n >= limit {
			break
		}
	}
	return n, nil
}

// atOrBeforeSQL writes the count of the matches in part, stopping at limit: all of them, or
// with own (the cursor's part) those at or before the cursor.
func atOrBeforeSQL(k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan, part partRows, own bool,
	limit int64) *sqlBuilder {
	first := keys[0]
	sb := newBuilder(k, fp)
	sb.w("SELECT count(*) FROM (SELECT 1 FROM ", k.table, " AS o WHERE ")
	sb.noIndex = true
	sb.where(q)
	sb.noIndex = false
	sb.w(" AND ")
	sb.sortExpr(first, false)
	switch {
	case part == missingRows:
		sb.w(" IS NULL")
	case !own:
		sb.w(" >= ")
		sb.arg(math.Inf(-1))
	case first.desc:
		sb.w(" >= ")
		sb.arg(cursor[0])
	default:
		sb.w(" <= ")
		sb.arg(cursor[0])
	}
	if own {
		sb.w(" AND NOT coalesce((")
		sb.afterFrom(keys, cursor, 0, true)
		sb.w("), 0)")
	}
	sb.w(" LIMIT ")
	sb.arg(limit)
	sb.w(")")
	return sb
}

// countQuery counts the matches (after cursor, when set). Counting through the filter's
// indexes reads the table row of every match, ~8 µs each at 100k objects because a row
// holds the whole document. When the filter and the cursor only need columns of one narrow
// index, a first count stops at max(countProbeMin, n/countProbeFraction) matches; if it
// gets there, the count is redone by scanning that index (~0.15 µs per entry) and probing
// the filter's indexes, which reads no table row.
func countQuery(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan) (int64, error) {
	cover := coveringIndex(k, q, keys, cursor, fp.trigram)
	if cover == "" && cursor != nil && len(keys) > 1 && coveringIndex(k, q, keys[:1], cursor[:1], fp.trigram) != "" {
		// The first sort key has a narrow index but a later one does not (spec.replicas,
		// then name): count the rows strictly after the cursor's first value from that
		// index, and read only the rows that tie with it.
		after, err := countQuery(c, k, q, keys[:1], cursor[:1], fp)
		if err != nil {
			return 0, err
		}
		ties, err := countTies(c, k, q, keys, cursor, fp)
		return after + ties, err
	}
	if cover == "" {
		return runCount(c, k, q, keys, cursor, fp, "", 0)
	}
	limit := max(countProbeMin, k.count.Load()/countProbeFraction)
	n, err := runCount(c, k, q, keys, cursor, fp, "", limit)
	if err != nil || n < limit {
		return n, err
	}
	return runCount(c, k, q, keys, cursor, fp, cover, 0)
}

const (
	countProbeMin      = 200
	countProbeFraction = 50
)

// coveringIndex names the narrowest index holding every column the filter and the cursor
// condition read, or "" when some condition reads the document or no index has them all.
func coveringIndex(k *kind, q *query.Query, keys []sortField, cursor []any, trigram trigramPlan) string {
	need := map[string]bool{}
	if len(q.Namespaces()) > 0 {
		need["ns"] = true
	}
	if len(q.Names()) > 0 {
		need["name"] = true
	}
	if q.NameContains() != "" && trigram != noTrigrams {
		need["lname"] = true
	}
	if q.CreatedAfter() != nil || q.CreatedBefore() != nil {
		need["created"] = true
	}
	for _, p := range q.Predicates() {
		if _, ok := listOf(k, p); !ok {
			return ""
		}
	}
	type index struct {
		name string
		cols []string
	}
	indexes := []index{
		{k.table + "_lname", []string{"lname"}},
		{k.table + "_uid", []string{"uid"}},
		{k.table + "_created", []string{"created", "uid"}},
		{k.table + "_nsname", []string{"ns", "name"}},
		{k.table + "_name", []string{"name", "uid"}},
	}
	if cursor != nil {
		for _, key := range keys {
			col := key.col
			if col == "" {
				// A declared plain path: its expression index holds the value and uid,
				// so the count after a cursor on it reads no document.
				name, ok := k.fields[key.path.String()]
				if !ok {
					return ""
				}
				col = "$" + key.path.String()
				indexes = append(indexes, index{name, []string{col, "uid"}})
			}
			if col != "id" {
				need[col] = true
			}
		}
	}
	for _, ix := range indexes {
		left := len(need)
		for _, col := range ix.cols {
			if need[col] {
				left--
			}
		}
		if left == 0 {
			return ix.name
		}
	}
	return ""
}

// runCount runs one count query: through the filter's indexes, stopping at limit when
// limit > 0, or by scanning index cover when cover is set.
func runCount(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan, cover string, limit int64) (int64, error) {
	sb := newBuilder(k, fp)
	if cursor == nil && cover == "" {
		if set, ok := sb.idSet(q); ok {
			// Count the ids; the table's rows are never read.
			sb.w("SELECT count(*) FROM (")
			set(sb)
			if limit > 0 {
				sb.w(" LIMIT ")
				sb.arg(limit)
			}
			sb.w(")")
			return runInt(c, sb)
		}
	}
	if limit > 0 {
		sb.w("SELECT count(*) FROM (SELECT 1 FROM ", k.table, " AS o WHERE ")
	} else {
		sb.w("SELECT count(*) FROM ", k.table, " AS o ")
		if cover != "" {
			sb.w("INDEXED BY ", cover, " ")
			sb.noIndex = true
		}
		sb.w("WHERE ")
	}
	sb.where(q)
	sb.noIndex = false
	if cursor != nil {
		sb.w(" AND ")
		// Scanning a covering index, the whole condition is checked on its entries.
		sb.after(keys, cursor, true, cover != "")
	}
	if limit > 0 {
		sb.w(" LIMIT ")
		sb.arg(limit)
		sb.w(")")
	}
	return runInt(c, sb)
}

// countTies counts the matches whose first sort key equals the cursor's and that sort after
// the cursor by the other keys.
func countTies(c *conn, k *kind, q *query.Query, keys []sortField, cursor []any, fp filterPlan) (int64, error) {
	sb := newBuilder(k, fp)
	sb.w("SELECT count(*) FROM ", k.table, " AS o WHERE ")
	sb.noIndex = true
	sb.where(q)
	sb.noIndex = false
	sb.w(" AND ")
	sb.sortExpr(keys[0], false)
	if cursor[0] == nil {
		sb.w(" IS NULL")
	} else {
		sb.w(" = ")
		sb.arg(cursor[0])
	}
	sb.w(" AND (")
	sb.afterFrom(keys, cursor, 1, false)
	sb.w(")")
	return runInt(c, sb)
}

// orderPart is a stretch of the sort order that one index range scan walks: the whole
// order, or the rows whose nullable first key is missing (NULL) or present. A missing value
// sorts first ascending and last descending, so after a cursor the order is at most two
// parts, each a range of the first key's index: a condition such as "value < x OR value IS
// NULL" is no range, and SQLite answers it by collecting and sorting every row it selects.
type orderPart struct {
	rows partRows
	// cursor is set on the part the page starts in: its rows strictly after the cursor.
	cursor []any
	// skipTies reads the present rows from the cursor's first value on, with a last column
	// that is 0 for the rows at or before the cursor (see sortsTies).
	skipTies bool
}

type partRows int

const (
	allRows     partRows = iota
	presentRows          // the first key is not NULL
	missingRows          // the first key is NULL
)

// pageParts returns the parts of the order from the cursor on. Walking, a nullable first key
// with an index (a declared path) splits the order into its missing and present parts (see
// orderPart), the first page included: without a range on the key, SQLite may scan and sort
// the table instead of walking the key's index when the later keys are not in it. Otherwise
// one query reads the page (an undeclared path has no index to walk: the page is sorted).
func pageParts(k *kind, keys []sortField, cursor []any, walk bool) []orderPart {
	if _, declared := k.fields[keys[0].path.String()]; !walk || !nullable(keys[0]) || !declared {
		return []orderPart{{rows: allRows, cursor: cursor}}
	}
	switch {
	case cursor == nil && keys[0].desc:
		return []orderPart{{rows: presentRows}, {rows: missingRows}}
	case cursor == nil:
		return []orderPart{{rows: missingRows}, {rows: presentRows}}
	case cursor[0] != nil && keys[0].desc:
		return []orderPart{{rows: presentRows, cursor: cursor}, {rows: missingRows}}
	case cursor[0] != nil:
		return []orderPart{{rows: presentRows, cursor: cursor}}
	case keys[0].desc:
		return []orderPart{{rows: missingRows, cursor: cursor}}
	default:
		return []orderPart{{rows: missingRows, cursor: cursor}, {rows: presentRows}}
	}
}

// buildPageSQL builds the query of the first limit rows of part. walk selects the plan; see
// walkPlan.
func buildPageSQL(k *kind, q *query.Query, keys []sortField, part orderPart, walk bool, fp filterPlan, limit int) (string, []any, error) {
	sb := newBuilder(k, fp)
	sb.w("SELECT o.ns, o.name, o.uid, o.rv, o.cluster")
	for _, key := range keys {
		sb.w(", ")
		sb.sortExpr(key, false)
	}
	if part.skipTies {
		sb.w(", coalesce((")
		sb.afterFrom(keys, part.cursor, 0, true)
		sb.w("), 0)")
	}
	sb.w(" FROM ", k.table, " AS o WHERE ")
	sb.noIndex = walk
	sb.where(q)
	sb.noIndex = false
	cursor := part.cursor
	switch part.rows {
	case allRows:
		if cursor != nil {
			sb.w(" AND ")
			sb.after(keys, cursor, walk, !walk)
		}
	case presentRows:
		// The first key's range drives; the rest of the condition is checked on its rows.
		sb.w(" AND ")
		sb.sortExpr(keys[0], false)
		switch {
		case cursor == nil:
			// Every value but NULL sorts at or after -Inf: a range, where SQLite scans
			// the index for IS NOT NULL.
			sb.w(" >= ")
			sb.arg(math.Inf(-1))
		case keys[0].desc:
			sb.w(" <= ")
			sb.arg(cursor[0])
		default:
			sb.w(" >= ")
			sb.arg(cursor[0])
		}
		if cursor != nil && !part.skipTies {
			sb.w(" AND (")
			sb.afterFrom(keys, cursor, 0, true)
			sb.w(")")
		}
	case missingRows:
		sb.w(" AND ")
		sb.sortExpr(keys[0], false)
		sb.w(" IS NULL")
		if cursor != nil {
			sb.w(" AND (")
			sb.afterFrom(keys, cursor, 1, true)
			sb.w(")")
		}
	}
	if part.rows == missingRows {
		// The first key is NULL throughout: ordering by it would keep SQLite from reading
		// the rest of the order from the index.
		sb.orderBy(keys[1:], false)
	} else {
		sb.orderBy(keys, !walk)
	}
	sb.w(" LIMIT ")
	sb.arg(int64(limit))
	return sb.b.String(), sb.args, sb.err
}

// checkNumeric rejects ordering comparisons with a non-numeric value on a path that holds
// numbers in this kind: a string comparison would silently match nothing.
func (s *Store) checkNumeric(c *conn, k *kind, q *query.Query) error {
	for _, f := range q.Filters() {
		if err := s.checkNumericFilter(c, k, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) checkNumericFilter(c *conn, k *kind, f *query.Filter) error {
	for i, p := range f.Predicates() {
		if _, ok := compareSyms[p.Op]; !ok || p.From != nil || p.Values[0].IsNum {
			continue
		}
		sb := &sqlBuilder{k: k}
		if lf, ok := k.lists[p.Path.String()]; ok {
			// Numbers sort before text and blobs: one index seek.
			sb.w("SELECT 1 FROM ", k.table, "_fields WHERE field = ")
			sb.arg(lf.id)
			sb.w(" AND value < '' LIMIT 1")
		} else if ix, ok := k.fields[p.Path.String()]; ok {
			// Numbers (and booleans, which json_extract gives as 0 and 1) sort before text
			// in the expression index: a seek, and a type check of those rows only.
			v := fieldIndexExpr(p.Path)
			sb.w("SELECT 1 FROM ", k.table, " INDEXED BY ", ix, " WHERE ", v, " < '' AND json_type(obj, ",
				sqlString(jsonPath(p.Path.Segments())), ") IN ('integer', 'real') LIMIT 1")
		} else {
			sb.w("SELECT 1 FROM ", k.table, " AS o WHERE ")
			sb.pathCond(p.Path, func(e leafExprs) {
				e.t()
				sb.w(" IN ('integer', 'real')")
			})
			sb.w(" LIMIT 1")
		}
		st, err := sb.prepare(c)
		if err != nil {
			return err
		}
		found := st.Step()
		err = st.Err()
		_ = st.Reset()
		if err != nil {
			return err
		}
		if found {
			return query.Errorf(fmt.Sprintf("%sfields[%d].values[0]", f.Position(), i), query.ErrInvalidValue,
				"%s needs a number: %s holds numbers but %q is not one", p.Op, p.Path, p.Values[0].Text)
		}
	}
	return nil
}
