package index

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesift/kubesift/internal/query"
)

// maxOwnerChain bounds the owners an owner chain may allow: the UIDs are bound as one JSON
// array and probed as a set.
const maxOwnerChain = 100_000

// snapshotKind is a kind as the read transaction's snapshot declares it.
type snapshotKind struct {
	table      string
	group      string
	kind       string
	namespaced bool
}

// snapshotKinds lists the kinds of c's snapshot. A kind registered after the snapshot has no
// table in it, so the list comes from the snapshot, not from the store's map.
func snapshotKinds(c *conn) ([]snapshotKind, error) {
	st, err := c.prepare(`SELECT id, grp, kind, namespaced FROM kinds ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	var out []snapshotKind
	for st.Step() {
		out = append(out, snapshotKind{
			table: fmt.Sprintf("k%d", st.ColumnInt64(0)), group: st.ColumnText(1), kind: st.ColumnText(2),
			namespaced: st.ColumnBool(3),
		})
	}
	return out, st.Err()
}

// resolveOwners returns, as a JSON array, the UIDs of the objects that f's owner chain allows
// as a direct owner: the named owner and, for a depth of d, every object of an indexed kind
// that the owner owns within d-1 levels. Levels are followed through ownerReferences of the
// kinds in the snapshot only: an object whose chain passes through a kind that no
// ResourceIndex mirrors is not reached (docs/query-reference.md).
func resolveOwners(c *conn, kinds []snapshotKind, q *query.Query, f *query.Filter) (string, error) {
	o := f.OwnerChain()
	var err error
	seen := map[string]bool{}
	var frontier []string
	if o.UID != "" {
		frontier = []string{o.UID}
	} else {
		if frontier, err = ownersByName(c, kinds, q, f, o); err != nil {
			return "", err
		}
	}
	for _, uid := range frontier {
		seen[uid] = true
	}
	for level := 2; level <= o.Depth && len(frontier) > 0; level++ {
		arg, err := json.Marshal(frontier)
		if err != nil {
			return "", err
		}
		var next []string
		for _, k := range kinds {
			sql, args := inClusters(`SELECT DISTINCT t.uid FROM `+k.table+`_owners AS ow JOIN `+k.table+
				` AS t ON t.id = ow.obj WHERE ow.uid IN (SELECT value FROM json_each(?))`, "t.", q, string(arg))
			uids, err := columnStrings(c, sql, args...)
			if err != nil {
				return "", fmt.Errorf("following owners through %s: %w", k.table, err)
			}
			for _, uid := range uids {
				if !seen[uid] {
					seen[uid] = true
					next = append(next, uid)
				}
			}
		}
		if len(seen) > maxOwnerChain {
			return "", query.Errorf(f.Position()+"owner.depth", query.ErrInvalidValue,
				"the owner chain reaches more than %d objects within %d levels; lower owner.depth or name an owner further down",
				maxOwnerChain, o.Depth)
		}
		frontier = next
	}
	all := make([]string, 0, len(seen))
	for uid := range seen {
		all = append(all, uid)
	}
	sort.Strings(all)
	out, err := json.Marshal(all)
	return string(out), err
}

// ownersByName finds the UIDs of the objects of o's kind (any indexed version) named o.Name,
// in q's namespaces and among cluster-scoped objects.
func ownersByName(c *conn, kinds []snapshotKind, q *query.Query, f *query.Filter, o *query.Owner) ([]string, error) {
	var uids []string
	found := false
	for _, k := range kinds {
		if k.group != o.Kind.Group || k.kind != o.Kind.Kind {
			continue
		}
		found = true
		sql, args := inClusters(`SELECT uid FROM `+k.table+` WHERE name = ?`, "", q, o.Name)
		if ns := q.Namespaces(); len(ns) > 0 && k.namespaced {
			sql += ` AND ns IN (SELECT value FROM json_each(?))`
			arg, err := json.Marshal(ns)
			if err != nil {
				return nil, err
			}
			args = append(args, string(arg))
		}
		got, err := columnStrings(c, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("finding the owner %s %q: %w", o.Kind, o.Name, err)
		}
		uids = append(uids, got...)
	}
	if !found {
		return nil, query.Errorf(f.Position()+"owner.kind", query.ErrInvalidValue,
			"kind %s is not indexed: finding an owner by kind and name needs a ResourceIndex for its kind (or name the owner by uid)", o.Kind)
	}
	return uids, nil
}

// inClusters adds to sql, a statement with a WHERE clause and its arguments args, the
// condition that the row (its columns prefixed with col) is in one of q's clusters, when q
// names any. Owner chains follow UIDs, which no two clusters share in practice; the
// condition keeps a chain inside the clusters the query reads.
func inClusters(sql, col string, q *query.Query, args ...any) (string, []any) {
	cs := q.Clusters()
	if len(cs) == 0 {
		return sql, args
	}
	arg, _ := json.Marshal(cs) // a []string always encodes
	return sql + ` AND ` + col + `cluster IN (SELECT value FROM json_each(?))`, append(args, string(arg))
}

// ownerKinds names the kinds that owner chains are followed through, sorted.
func ownerKinds(kinds []snapshotKind) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, schema.GroupKind{Group: k.group, Kind: k.kind}.String())
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// columnStrings runs a query with bound args and returns its first column as text.
func columnStrings(c *conn, sql string, args ...any) ([]string, error) {
	st, err := c.prepare(sql)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	if err := bind(st, args); err != nil {
		return nil, err
	}
	var out []string
	for st.Step() {
		out = append(out, st.ColumnText(0))
	}
	return out, st.Err()
}
