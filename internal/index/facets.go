package index

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kubesift/kubesift/internal/query"
)

// FacetCounts are the counts of the values at one facet's path over all the matches of a
// query, from the same snapshot as its Total.
type FacetCounts struct {
	// Path is the facet's path as the query gives it.
	Path string
	// Values are the most frequent values, at most the facet's limit: by count, descending,
	// then by value.
	Values []FacetValue
	// Other counts the matches under the values not listed. A match with several values at a
	// list path counts once under each of them.
	Other int64
	// Missing counts the matches without a value at the path (missing, null, an object or a
	// list).
	Missing int64
}

// FacetValue is one value of a facet and the number of matches that have it.
type FacetValue struct {
	Value string
	Count int64
}

// MaxFacetValueLength is the longest value a facet lists; longer values count under Other.
const MaxFacetValueLength = 1024

// facets counts the values of every facet of q over its total matches. A label is counted
// from the label table; another path that selects one value is grouped by SQLite, which
// reads the document of every match; a path with [*] or [key=value] is evaluated in Go on
// the matches' documents by the evaluator of Matches.
func facets(c *conn, k *kind, q *query.Query, fp filterPlan, total int64) ([]FacetCounts, error) {
	var out []FacetCounts
	for _, f := range q.Facets() {
		counts := map[string]int64{}
		var missing int64
		var err error
		segs := f.Path.Segments()
		switch {
		case len(segs) == 3 && f.Path.Scalar() && segs[0].Key == "metadata" && segs[1].Key == "labels":
			missing, err = groupLabel(c, k, q, fp, segs[2].Key, total, counts)
		case f.Path.Scalar():
			missing, err = groupScalar(c, k, q, fp, f.Path, counts)
		default:
			missing, err = groupList(c, k, q, fp, f.Path, counts)
		}
		if err != nil {
			return nil, fmt.Errorf("counting facet %s: %w", f.Path, err)
		}
		out = append(out, topValues(f, counts, missing))
	}
	return out, nil
}

// topValues keeps the facet's limit of the most frequent values.
func topValues(f query.Facet, counts map[string]int64, missing int64) FacetCounts {
	fc := FacetCounts{Path: f.Text, Missing: missing}
	values := make([]FacetValue, 0, len(counts))
	for v, n := range counts {
		if len(v) > MaxFacetValueLength {
			fc.Other += n
			continue
		}
		values = append(values, FacetValue{Value: v, Count: n})
	}
	slices.SortFunc(values, func(a, b FacetValue) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	if len(values) > f.Limit {
		for _, v := range values[f.Limit:] {
			fc.Other += v.Count
		}
		values = values[:f.Limit]
	}
	if len(values) > 0 {
		fc.Values = values
	}
	return fc
}

// groupLabel adds to counts the matches per value of label key, read from the label table
// (the string values of metadata.labels, which is all the API server accepts), and returns
// the number of matches without the label. Without a filter it reads the label table's
// index alone.
func groupLabel(c *conn, k *kind, q *query.Query, fp filterPlan, key string, total int64, counts map[string]int64) (int64, error) {
	sb := newBuilder(k, fp)
	sb.w("SELECT value, count(*) FROM ", k.table, "_labels WHERE key = ")
	sb.arg(key)
	if !q.Unfiltered() {
		sb.w(" AND obj IN (SELECT o.id FROM ", k.table, " AS o WHERE ")
		sb.where(q)
		sb.w(")")
	}
	sb.w(" GROUP BY value")
	st, err := sb.prepare(c)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	var labeled int64
	for st.Step() {
		n := st.ColumnInt64(1)
		counts[st.ColumnText(0)] += n
		labeled += n
	}
	return total - labeled, st.Err()
}

// groupScalar adds to counts the matches per value at p, a path that selects one value, and
// returns the number of matches without one.
func groupScalar(c *conn, k *kind, q *query.Query, fp filterPlan, p query.Path, counts map[string]int64) (int64, error) {
	sb := newBuilder(k, fp)
	jp := jsonPath(p.Segments())
	sb.w("SELECT json_type(o.obj, ")
	sb.arg(jp)
	sb.w(") AS t, json_extract(o.obj, ")
	sb.arg(jp)
	sb.w(") AS v, count(*) FROM ", k.table, " AS o WHERE ")
	sb.where(q)
	sb.w(" GROUP BY t, v")
	st, err := sb.prepare(c)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	var missing int64
	for st.Step() {
		n := st.ColumnInt64(2)
		var v any
		switch st.ColumnText(0) {
		case "text":
			v = st.ColumnText(1)
		case "integer":
			v = st.ColumnInt64(1)
		case "real":
			v = st.ColumnFloat(1)
		case "true":
			v = true
		case "false":
			v = false
		}
		text, ok := query.FacetText(v)
		if !ok {
			missing += n
			continue
		}
		counts[text] += n
	}
	return missing, st.Err()
}

// groupList adds to counts the matches per value at p, a path that may select several
// values, and returns the number of matches without one. Each match counts once per
// distinct value.
func groupList(c *conn, k *kind, q *query.Query, fp filterPlan, p query.Path, counts map[string]int64) (int64, error) {
	sb := newBuilder(k, fp)
	sb.w("SELECT json(o.obj) FROM ", k.table, " AS o WHERE ")
	sb.where(q)
	st, err := sb.prepare(c)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	var missing int64
	var values []string
	for st.Step() {
		doc, err := decodeDocument(st.ColumnRawText(0))
		if err != nil {
			return 0, err
		}
		values = p.FacetValues(doc.Object, values[:0])
		if len(values) == 0 {
			missing++
		}
		for _, v := range values {
			counts[v]++
		}
	}
	return missing, st.Err()
}
