package index

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/kubesift/kubesift/internal/query"
)

// lastApplied is dropped from stored annotations: it duplicates the whole object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// rawText binds as TEXT without a copy to a Go string.
type rawText []byte

// Change is one write in an Apply batch. A delete uses only the object's kind, namespace,
// name and uid.
type Change struct {
	Object  *unstructured.Unstructured
	Deleted bool
	// Cluster names the cluster the object was read from: "" for the local cluster, or a
	// MemberCluster's name. Objects of the same namespace and name in two clusters are two
	// objects.
	Cluster string
}

// Written is one committed change of an object.
type Written struct {
	// GVK is the object's kind.
	GVK schema.GroupVersionKind
	// Old is the stored version that the change replaced or deleted, decoded from the index
	// inside the write transaction; nil when nothing was stored. When the Observer does not
	// want old versions of the kind, an update has no Old and a delete's Old carries only the
	// object's kind, namespace and name.
	Old *unstructured.Unstructured
	// New is the version written; nil for a delete.
	New *unstructured.Unstructured
	// Cluster is the cluster of the object ("" for the local cluster).
	Cluster string
}

// Observer learns of the writes of a transaction. Observe is called inside the
// transaction for every object it changed (a rewrite of the same resourceVersion changes
// nothing and is skipped), and must not call the Store. The calls count only if the write
// returns nil: a failed transaction wrote nothing.
type Observer interface {
	// WantsOld reports whether Observe needs the old version of objects of a kind. Reading
	// it back costs a JSON decode per write, so only live queries on the kind justify it.
	WantsOld(gvk schema.GroupVersionKind) bool
	// Observe receives one change.
	Observe(w Written)
}

// row is an object prepared for storage.
type row struct {
	cluster           string
	ns, name, uid, rv string
	created           int64 // unix seconds; 0 when missing
	json              []byte
	labels            map[string]string
	owners            []string
	content           map[string]any // the stored document, for the side table
}

// encode strips fields that are never stored and serializes the object. The caller's
// object is not modified: only the maps on the path to removed keys are copied.
func encode(obj *unstructured.Unstructured, namespaced bool, buf []byte) (row, error) {
	r := row{name: obj.GetName(), uid: string(obj.GetUID()), rv: obj.GetResourceVersion()}
	if namespaced {
		r.ns = obj.GetNamespace()
	}
	if r.name == "" {
		return r, fmt.Errorf("object of kind %s has no name", obj.GroupVersionKind())
	}
	content := make(map[string]any, len(obj.Object))
	for k, v := range obj.Object {
		content[k] = v
	}
	gvk := obj.GroupVersionKind()
	if gvk.Group == "" && gvk.Kind == "Secret" {
		delete(content, "data")
		delete(content, "stringData")
	}
	if md, ok := content["metadata"].(map[string]any); ok {
		m := make(map[string]any, len(md))
		for k, v := range md {
			m[k] = v
		}
		delete(m, "managedFields")
		if ann, ok := m["annotations"].(map[string]any); ok {
			if _, has := ann[lastApplied]; has {
				a := make(map[string]any, len(ann))
				for k, v := range ann {
					if k != lastApplied {
						a[k] = v
					}
				}
				m["annotations"] = a
			}
		}
		content["metadata"] = m
		if ts, ok := query.CreationTime(content); ok {
			r.created = ts.Unix()
		}
	}
	r.labels = labelsOf(content)
	for _, o := range obj.GetOwnerReferences() {
		if o.UID != "" {
			r.owners = append(r.owners, string(o.UID))
		}
	}
	b, err := appendJSON(buf[:0], content)
	if err != nil {
		return r, fmt.Errorf("encoding %s %s/%s: %w", gvk.Kind, r.ns, r.name, err)
	}
	r.json = b
	r.content = content
	return r, nil
}

// labelsOf returns the labels of a stored document: the string values of
// metadata.labels. The label rows of an object are always exactly labelsOf its stored
// document, which lets updates and deletes find the rows to remove without an index on
// the object id.
func labelsOf(content map[string]any) map[string]string {
	md, _ := content["metadata"].(map[string]any)
	if typed, ok := md["labels"].(map[string]string); ok {
		// Not what the API machinery decodes, but encodes to the same JSON object.
		return typed
	}
	l, _ := md["labels"].(map[string]any)
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// looksInteger reports whether s may parse as a decimal integer, so that most label values
// skip strconv.ParseInt and the error it allocates.
func looksInteger(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// decodeLabels decodes the JSON of a stored metadata.labels (nil when absent). An error means
// the stored row is damaged: its label rows could not be found to be replaced.
func decodeLabels(js []byte) (map[string]string, error) {
	if len(js) == 0 {
		return nil, nil
	}
	var l map[string]any
	if err := json.Unmarshal(js, &l); err != nil {
		return nil, fmt.Errorf("decoding the stored labels: %w", err)
	}
	return labelsOf(map[string]any{"metadata": map[string]any{"labels": l}}), nil
}

// writeSQL holds the text of a kind's hot write statements, built once per table rather
// than concatenated for every row.
type writeSQL struct {
	selectByName, selectOldByName, updateDoc, insertRow string
	insertName                                          string
	insertLabel, deleteLabel, insertOwner, deleteOwners string
}

var writeSQLs sync.Map // table name -> *writeSQL

func writeSQLFor(t string) *writeSQL {
	if q, ok := writeSQLs.Load(t); ok {
		return q.(*writeSQL)
	}
	q := &writeSQL{
		selectByName: `SELECT id, rv, uid, json_extract(obj, '$.metadata.labels') FROM ` + t + ` WHERE ns = ? AND name = ? AND cluster = ?`,
		// The whole stored document, for an Observer that wants the old version.
		selectOldByName: `SELECT id, rv, uid, json(obj) FROM ` + t + ` WHERE ns = ? AND name = ? AND cluster = ?`,
		updateDoc:       `UPDATE ` + t + ` SET rv = ?, obj = jsonb(?) WHERE id = ?`,
		insertRow:       `INSERT INTO ` + t + ` (ns, name, uid, rv, created, lname, obj, cluster) VALUES (?, ?, ?, ?, ?, ?, jsonb(?), ?)`,
		insertName:      `INSERT INTO ` + t + `_names (rowid, lname) VALUES (?, ?)`,
		insertLabel:     `INSERT INTO ` + t + `_labels (key, value, num, obj) VALUES (?, ?, ?, ?)`,
		deleteLabel:     `DELETE FROM ` + t + `_labels WHERE key = ? AND value = ? AND obj = ?`,
		insertOwner:     `INSERT OR IGNORE INTO ` + t + `_owners (uid, obj) VALUES (?, ?)`,
		deleteOwners:    `DELETE FROM ` + t + `_owners WHERE obj = ?`,
	}
	writeSQLs.Store(t, q)
	return q
}

// batch accumulates the effects of one write transaction.
type batch struct {
	s       *Store
	obs     Observer        // may be nil
	changed map[*kind]int64 // kind -> count delta; presence means "mutated"
	rows    map[*kind]int   // rows written per kind
	// relisted is the number of objects a relist of the kind wrote, set by the transaction
	// that ends the relist.
	relisted map[*kind]int
	wants    map[*kind]bool // obs.WantsOld, asked once per kind and transaction
	buf      []byte         // JSON encoding buffer, reused for every object
	// insertFirst tries each upsert as an insert: set while a relist page is written into a
	// kind that held no rows when the relist began.
	insertFirst bool
}

func (s *Store) newBatch(obs Observer) *batch {
	return &batch{s: s, obs: obs, changed: map[*kind]int64{}, rows: map[*kind]int{}, relisted: map[*kind]int{},
		wants: map[*kind]bool{}}
}

// wantsOld reports whether the observer needs the old versions of objects of k.
func (b *batch) wantsOld(k *kind) bool {
	if b.obs == nil {
		return false
	}
	w, ok := b.wants[k]
	if !ok {
		w = b.obs.WantsOld(k.gvk)
		b.wants[k] = w
	}
	return w
}

func (b *batch) observe(w Written) {
	if b.obs != nil {
		b.obs.Observe(w)
	}
}

// decodeDocument decodes a stored document read back with json(obj). Numbers decode as
// int64 where they are integers, as the API machinery decodes them.
func decodeDocument(js []byte) (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("decoding a stored document: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// keyOnly is the stand-in old version of a deleted object whose document was not read.
func keyOnly(gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if ns != "" {
		u.SetNamespace(ns)
	}
	u.SetName(name)
	return u
}

// upsert writes obj, read from cluster, and returns its row id.
func (b *batch) upsert(k *kind, cluster string, obj *unstructured.Unstructured) (int64, error) {
	r, err := encode(obj, k.namespaced, b.buf)
	if err != nil {
		return 0, err
	}
	r.cluster = cluster
	b.buf = r.json
	w := b.s.w
	q := writeSQLFor(k.table)
	var id int64
	var oldLabels map[string]string
	var old *unstructured.Unstructured
	inserted := false
	if b.insertFirst {
		// A relist into a kind that held no rows when it began: the object is new, unless the
		// relist listed its namespace and name twice. Insert without looking it up first.
		var stored bool
		if id, stored, err = b.insertNew(k, q, r); err != nil {
			return 0, err
		}
		inserted = !stored
	}
	if !inserted {
		var unchanged bool
		if id, oldLabels, old, unchanged, err = b.writeByName(k, q, r); err != nil {
			return 0, err
		}
		if unchanged {
			// A resync of an unchanged object: nothing to write.
			return id, nil
		}
	}
	b.rows[k]++
	for key, val := range r.labels {
		if ov, ok := oldLabels[key]; ok && ov == val {
			continue
		}
		var num any
		if looksInteger(val) {
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				num = n
			}
		}
		if err := w.exec(q.insertLabel, key, val, num, id); err != nil {
			return 0, err
		}
	}
	for _, o := range r.owners {
		if err := w.exec(q.insertOwner, o, id); err != nil {
			return 0, err
		}
	}
	if err := b.insertSide(k, id, r.content); err != nil {
		return 0, err
	}
	b.observe(Written{GVK: k.gvk, Old: old, New: obj, Cluster: cluster})
	return id, nil
}

// writeByName looks obj's row up by namespace, name and cluster and updates it, or inserts it
// when there is none. It returns the row id and the stored version's labels (and the whole
// version when the observer wants it), or unchanged for a resync of the stored version.
func (b *batch) writeByName(k *kind, q *writeSQL, r row) (
	id int64, oldLabels map[string]string, old *unstructured.Unstructured, unchanged bool, err error,
) {
	w := b.s.w
	wantOld := b.wantsOld(k)
	sel := q.selectByName
	if wantOld {
		sel = q.selectOldByName
	}
	st, err := w.prepare(sel)
	if err != nil {
		return 0, nil, nil, false, err
	}
	if err := bind(st, []any{r.ns, r.name, r.cluster}); err != nil {
		return 0, nil, nil, false, err
	}
	exists := st.Step()
	if exists {
		id = st.ColumnInt64(0)
		sameUID := st.ColumnText(2) == r.uid
		sameRV := r.rv != "" && st.ColumnText(1) == r.rv && sameUID
		if !sameRV {
			if wantOld {
				old, err = decodeDocument(st.ColumnRawText(3))
				if err != nil {
					_ = st.Reset()
					return 0, nil, nil, false, err
				}
				oldLabels = labelsOf(old.Object)
			} else if oldLabels, err = decodeLabels(st.ColumnRawText(3)); err != nil {
				_ = st.Reset()
				return 0, nil, nil, false, err
			}
		}
		_ = st.Reset()
		if sameRV {
			return id, nil, nil, true, nil
		}
		if sameUID {
			// Same incarnation: name, uid and creation time are unchanged, so their
			// indexes need no update.
			err = w.exec(q.updateDoc, r.rv, rawText(r.json), id)
		} else {
			err = w.exec(`UPDATE `+k.table+` SET uid = ?, rv = ?, created = ?, lname = ?, obj = jsonb(?) WHERE id = ?`,
				r.uid, r.rv, r.created, strings.ToLower(r.name), rawText(r.json), id)
		}
		if err != nil {
			return 0, nil, nil, false, err
		}
		// Only labels that changed are rewritten; most updates change none.
		for key, val := range oldLabels {
			if nv, ok := r.labels[key]; ok && nv == val {
				continue
			}
			if err := w.exec(q.deleteLabel, key, val, id); err != nil {
				return 0, nil, nil, false, err
			}
		}
		if err := w.exec(q.deleteOwners, id); err != nil {
			return 0, nil, nil, false, err
		}
		if len(k.lists) > 0 {
			if err := w.exec(`DELETE FROM `+k.table+`_fields WHERE obj = ?`, id); err != nil {
				return 0, nil, nil, false, err
			}
		}
		b.changed[k] += 0
	} else {
		if err := st.Err(); err != nil {
			return 0, nil, nil, false, err
		}
		_ = st.Reset()
		if id, _, err = b.insertNew(k, q, r); err != nil {
			return 0, nil, nil, false, err
		}
	}
	return id, oldLabels, old, false, nil
}

// insertNew inserts the row of a new object and its name, and returns the row id. If an object
// of the same namespace, name and cluster is stored already, it inserts nothing, leaves the
// transaction as it was and reports stored.
func (b *batch) insertNew(k *kind, q *writeSQL, r row) (id int64, stored bool, err error) {
	w := b.s.w
	lname := strings.ToLower(r.name)
	if err := w.exec(q.insertRow,
		r.ns, r.name, r.uid, r.rv, r.created, lname, rawText(r.json), r.cluster); err != nil {
		if errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
			return 0, true, nil
		}
		return 0, false, err
	}
	id = w.db.LastInsertRowID()
	if err := w.exec(q.insertName, id, lname); err != nil {
		return 0, false, err
	}
	b.changed[k]++
	return id, false, nil
}

// deleteID removes the stored object id of kind k.
func (b *batch) deleteID(k *kind, id int64) error {
	w := b.s.w
	wantOld := b.wantsOld(k)
	doc := `json_extract(obj, '$.metadata.labels')`
	if wantOld {
		doc = `json(obj)`
	}
	st, err := w.prepare(`SELECT ns, name, ` + doc + `, cluster FROM ` + k.table + ` WHERE id = ?`)
	if err != nil {
		return err
	}
	if err := bind(st, []any{id}); err != nil {
		return err
	}
	var labels map[string]string
	var old *unstructured.Unstructured
	var cluster string
	if st.Step() {
		cluster = st.ColumnText(3)
		if wantOld {
			old, err = decodeDocument(st.ColumnRawText(2))
			if err != nil {
				_ = st.Reset()
				return err
			}
			labels = labelsOf(old.Object)
		} else {
			old = keyOnly(k.gvk, st.ColumnText(0), st.ColumnText(1))
			if labels, err = decodeLabels(st.ColumnRawText(2)); err != nil {
				_ = st.Reset()
				return err
			}
		}
	}
	err = st.Err()
	_ = st.Reset()
	if err != nil {
		return err
	}
	if old == nil {
		return nil
	}
	for key, val := range labels {
		if err := w.exec(`DELETE FROM `+k.table+`_labels WHERE key = ? AND value = ? AND obj = ?`, key, val, id); err != nil {
			return err
		}
	}
	qs := []string{
		`DELETE FROM ` + k.table + `_owners WHERE obj = ?`,
		`DELETE FROM ` + k.table + `_names WHERE rowid = ?`,
		`DELETE FROM ` + k.table + ` WHERE id = ?`,
	}
	if len(k.lists) > 0 {
		qs = append(qs, `DELETE FROM `+k.table+`_fields WHERE obj = ?`)
	}
	for _, q := range qs {
		if err := w.exec(q, id); err != nil {
			return err
		}
	}
	b.changed[k]--
	b.observe(Written{GVK: k.gvk, Old: old, Cluster: cluster})
	return nil
}

func (b *batch) delete(k *kind, cluster string, obj *unstructured.Unstructured) error {
	ns := ""
	if k.namespaced {
		ns = obj.GetNamespace()
	}
	st, err := b.s.w.prepare(`SELECT id, uid FROM ` + k.table + ` WHERE ns = ? AND name = ? AND cluster = ?`)
	if err != nil {
		return err
	}
	if err := bind(st, []any{ns, obj.GetName(), cluster}); err != nil {
		return err
	}
	if !st.Step() {
		return st.Err()
	}
	id, uid := st.ColumnInt64(0), st.ColumnText(1)
	_ = st.Reset()
	if want := string(obj.GetUID()); want != "" && want != uid {
		// A delete of an older incarnation must not remove the object that replaced it.
		return nil
	}
	return b.deleteID(k, id)
}

// commit publishes counts after a successful commit.
func (b *batch) commit() {
	for k, delta := range b.changed {
		k.count.Add(delta)
	}
}

// write runs fn in one transaction and publishes its effects.
func (s *Store) write(obs Observer, fn func(b *batch) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return errClosed
	}
	b := s.newBatch(obs)
	if err := s.inTx(func() error {
		if err := fn(b); err != nil {
			return err
		}
		return s.countChanges(b)
	}); err != nil {
		return err
	}
	s.published(b)
	return nil
}

// countChanges writes the object counts that b changed. Counts live in the database so that
// readers get them from their snapshot.
func (s *Store) countChanges(b *batch) error {
	for k, delta := range b.changed {
		if delta != 0 {
			if err := s.w.exec(`UPDATE kinds SET objects = objects + ? WHERE id = ?`, delta, k.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish commits the open transaction of b; the caller rolls it back on an error.
func (s *Store) finish(b *batch) error {
	if err := s.countChanges(b); err != nil {
		return err
	}
	return s.w.db.Exec(`COMMIT`)
}

// published applies the effects of b's committed transaction.
func (s *Store) published(b *batch) {
	b.commit()
	for k, n := range b.rows {
		if n >= analyzeRows {
			s.analyze(k)
		}
	}
	for k, n := range b.relisted {
		if n >= analyzeRows {
			s.mergeNames(k)
		}
	}
}

// mergeNames merges the segments of a kind's name search index into one after a large
// relist. The trigram index gains a segment per transaction: a relist written page by page
// leaves dozens, and one per cluster remains after automatic merging, so that a name search
// looks up each trigram in every segment. At 100,000 objects the merge takes about 0.1 s and
// halves the time of a name search (docs/design/index.md). Like ANALYZE, it runs after the
// commit, and a failure is logged.
func (s *Store) mergeNames(k *kind) {
	t := k.table + "_names"
	if err := s.w.db.Exec(`INSERT INTO ` + t + `(` + t + `) VALUES ('optimize')`); err != nil {
		s.log.Error(err, "Unable to merge the name search index", "kind", k.gvk.String())
	}
}

// analyze refreshes a kind's statistics so that the planner picks the most selective index;
// with analysis_limit set this samples rather than scans. The data is committed already, so
// a failure only leaves older statistics behind: it is logged, not returned.
func (s *Store) analyze(k *kind) {
	tables := []string{k.table, k.table + "_labels"}
	if len(k.lists) > 0 {
		tables = append(tables, k.table+"_fields")
	}
	for _, t := range tables {
		if err := s.w.db.Exec(`ANALYZE ` + t); err != nil {
			s.log.Error(err, "Unable to refresh the index statistics", "kind", k.gvk.String())
			return
		}
	}
}

// analyzeRows is the batch size after which a kind's statistics are refreshed.
const analyzeRows = 5000

func (s *Store) kindOf(obj *unstructured.Unstructured) (*kind, error) {
	if obj == nil {
		return nil, fmt.Errorf("nil object")
	}
	gvk := obj.GroupVersionKind()
	k := s.kind(gvk)
	if k == nil {
		return nil, fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	return k, nil
}

// Apply performs many upserts and deletes, of any kinds, in one transaction. Either all
// changes are stored or, on error, none. An upsert replaces the stored object with the
// same namespace and name, unless its resourceVersion and uid equal the stored ones. A
// delete whose uid differs from the stored object's keeps the stored object: it is a newer
// incarnation. obs, if not nil, learns of every change inside the transaction.
func (s *Store) Apply(changes []Change, obs Observer) error {
	for _, c := range changes {
		if _, err := s.kindOf(c.Object); err != nil {
			return err
		}
	}
	return s.write(obs, func(b *batch) error {
		for _, c := range changes {
			// Resolved again under the write lock: a concurrent Register may have
			// replaced the kind's field declarations, which the side table must follow.
			k, err := s.kindOf(c.Object)
			if err != nil {
				return err
			}
			if c.Deleted {
				err = b.delete(k, c.Cluster, c.Object)
			} else {
				_, err = b.upsert(k, c.Cluster, c.Object)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// relistTable names the temporary table that holds the ids a relist of k in cluster has
// written. It lives on the writer connection, in memory, and never in the database file. The
// cluster's name is hex-encoded: the table name is built from it, and never holds its text.
func relistTable(k *kind, cluster string) string {
	return "temp." + relistName(k, cluster)
}

func relistName(k *kind, cluster string) string {
	return "relist_" + k.table + "_" + hex.EncodeToString([]byte(cluster))
}

// BeginRelist starts a relist of gvk in cluster ("" for the local cluster): ApplyRelist
// then writes the listed objects page by page, each page in its own transaction, and
// CommitRelist deletes, in one transaction, every stored object of the kind and cluster that
// no page since BeginRelist contained. A second BeginRelist before CommitRelist starts over.
// The listed objects are never all in memory at once; the relist remembers only the row ids
// it wrote, in SQLite. Relists of one kind in different clusters are independent.
func (s *Store) BeginRelist(gvk schema.GroupVersionKind, cluster string) error {
	k := s.kind(gvk)
	if k == nil {
		return fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	return s.write(nil, func(b *batch) error {
		name := relistName(k, cluster)
		delete(s.openErr, name)
		t := relistTable(k, cluster)
		if err := s.w.db.Exec(`CREATE TABLE IF NOT EXISTS ` + t + ` (id INTEGER PRIMARY KEY)`); err != nil {
			return err
		}
		if err := s.w.db.Exec(`DELETE FROM ` + t); err != nil {
			return err
		}
		// A kind's first sync into a new index: its pages need not look each object up.
		empty, err := s.w.queryInt64(`SELECT NOT EXISTS (SELECT 1 FROM ` + k.table + `)`)
		if err != nil {
			return err
		}
		if s.emptyRelists == nil {
			s.emptyRelists = map[string]bool{}
		}
		s.emptyRelists[name] = empty == 1
		return nil
	})
}

// relistGroupRows is how many objects of an unobserved relist may share one transaction. A
// page of 500 objects changes pages all over the indexes of a large kind, and every commit
// writes each changed page out again; ten pages to a transaction write each of them once.
// At 100,000 objects into a file it made the initial sync 1.10x faster with a 16 MiB page cache
// budget and 1.22x with 48 MiB (docs/design/index.md).
const relistGroupRows = 5000

// openRelist is the transaction of an unobserved relist left open for its next pages.
type openRelist struct {
	k       *kind
	cluster string
	b       *batch
	objects int
}

// ApplyRelist writes one page of a relist begun with BeginRelist. With an observer, the page
// is one transaction, committed on return. Without one (nobody queries the kind yet, as in
// its first sync), pages share a transaction of up to relistGroupRows objects, which commits
// once full, at CommitRelist, or before any other write. A failed page rolls back every page
// of the transaction, and so does a failed commit; either way the relist must begin again,
// and its steps return the error until it does.
func (s *Store) ApplyRelist(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured, obs Observer) error {
	if err := sameKind("relist", gvk, objs); err != nil {
		return err
	}
	if obs != nil {
		return s.write(obs, func(b *batch) error {
			k := s.kind(gvk)
			if k == nil {
				return fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
			}
			return s.relistPage(b, k, cluster, objs)
		})
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return errClosed
	}
	k := s.kind(gvk)
	if k == nil {
		return fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	if err := s.openErr[relistName(k, cluster)]; err != nil {
		return err
	}
	if o := s.open; o != nil && (o.k != k || o.cluster != cluster) {
		s.commitOpen()
	}
	if s.open == nil {
		if err := s.w.db.Exec(`BEGIN IMMEDIATE`); err != nil {
			return err
		}
		s.open = &openRelist{k: k, cluster: cluster, b: s.newBatch(nil)}
	}
	o := s.open
	if err := s.relistPage(o.b, k, cluster, objs); err != nil {
		_ = s.w.db.Exec(`ROLLBACK`)
		s.open = nil
		s.keepOpenErr(o, err)
		return err
	}
	if o.objects += len(objs); o.objects >= relistGroupRows {
		s.commitOpen()
		return s.openErr[relistName(k, cluster)]
	}
	return nil
}

// relistPage writes the objects of a relist page in the transaction of b.
func (s *Store) relistPage(b *batch, k *kind, cluster string, objs []*unstructured.Unstructured) error {
	if err := s.relisting(k, cluster); err != nil {
		return err
	}
	seen := `INSERT OR IGNORE INTO ` + relistTable(k, cluster) + ` (id) VALUES (?)`
	b.insertFirst = s.emptyRelists[relistName(k, cluster)]
	defer func() { b.insertFirst = false }()
	for _, o := range objs {
		id, err := b.upsert(k, cluster, o)
		if err != nil {
			return err
		}
		if err := s.w.exec(seen, id); err != nil {
			return err
		}
	}
	return nil
}

// commitOpen commits the open relist transaction, if there is one. A failure rolls it back and
// is kept for the relist's next step. Callers hold writeMu.
func (s *Store) commitOpen() {
	o := s.open
	if o == nil {
		return
	}
	s.open = nil
	// As when each page was its own transaction, the relist's pages refresh no statistics.
	clear(o.b.rows)
	if err := s.finish(o.b); err != nil {
		_ = s.w.db.Exec(`ROLLBACK`)
		s.keepOpenErr(o, fmt.Errorf("committing a relist of %s: %w", o.k.gvk, err))
		return
	}
	s.published(o.b)
}

// keepOpenErr fails the rest of a relist whose open transaction was rolled back: committing
// it would delete the objects its lost pages listed. BeginRelist clears the error.
func (s *Store) keepOpenErr(o *openRelist, err error) {
	if s.openErr == nil {
		s.openErr = map[string]error{}
	}
	s.openErr[relistName(o.k, o.cluster)] = err
}

// CommitRelist ends a relist begun with BeginRelist: in one transaction, it deletes every
// stored object of the kind and cluster that the relist did not write.
func (s *Store) CommitRelist(gvk schema.GroupVersionKind, cluster string, obs Observer) error {
	return s.write(obs, func(b *batch) error {
		k := s.kind(gvk)
		if k == nil {
			return fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
		}
		if err := s.openErr[relistName(k, cluster)]; err != nil {
			return err
		}
		if err := s.relisting(k, cluster); err != nil {
			return err
		}
		t := relistTable(k, cluster)
		stale, err := s.clusterIDs(k, cluster, ` AND id NOT IN (SELECT id FROM `+t+`)`)
		if err != nil {
			return err
		}
		listed, err := s.w.queryInt64(`SELECT count(*) FROM ` + t)
		if err != nil {
			return err
		}
		b.relisted[k] = int(listed)
		for _, id := range stale {
			if err := b.deleteID(k, id); err != nil {
				return err
			}
		}
		delete(s.emptyRelists, relistName(k, cluster))
		return s.w.db.Exec(`DROP TABLE ` + t)
	})
}

// clusterIDs returns the row ids of k's objects in cluster that also meet the condition and.
func (s *Store) clusterIDs(k *kind, cluster, and string) ([]int64, error) {
	st, err := s.w.prepare(`SELECT id FROM ` + k.table + ` WHERE cluster = ?` + and)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	if err := bind(st, []any{cluster}); err != nil {
		return nil, err
	}
	var ids []int64
	for st.Step() {
		ids = append(ids, st.ColumnInt64(0))
	}
	return ids, st.Err()
}

// relisting fails unless a relist of k in cluster is in progress.
func (s *Store) relisting(k *kind, cluster string) error {
	st, err := s.w.prepare(`SELECT 1 FROM temp.sqlite_master WHERE type = 'table' AND name = ?`)
	if err != nil {
		return err
	}
	if err := bind(st, []any{relistName(k, cluster)}); err != nil {
		return err
	}
	found := st.Step()
	err = st.Err()
	_ = st.Reset()
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", errNoRelist, k.gvk)
	}
	return nil
}

// Replace makes the stored objects of gvk in the local cluster exactly objs, in one
// transaction: a relist whose objects are all at hand.
func (s *Store) Replace(gvk schema.GroupVersionKind, objs []*unstructured.Unstructured) error {
	return s.ReplaceIn(gvk, "", objs)
}

// ReplaceIn is Replace for the objects of cluster ("" for the local cluster); the other
// clusters' objects of the kind stay.
func (s *Store) ReplaceIn(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured) error {
	_, err := s.replaceIn(gvk, cluster, objs, nil)
	return err
}

// DropCluster deletes every stored object of gvk read from cluster, in one transaction, and
// tells obs of each delete: the cluster is no longer mirrored for the kind. It also ends a
// relist of the cluster in progress. It returns the number of objects deleted.
func (s *Store) DropCluster(gvk schema.GroupVersionKind, cluster string, obs Observer) (int, error) {
	return s.replaceIn(gvk, cluster, nil, obs)
}

// replaceIn makes the stored objects of gvk in cluster exactly objs, in one transaction, and
// returns how many it deleted. A relist of the cluster in progress ends: what it wrote is
// replaced.
func (s *Store) replaceIn(gvk schema.GroupVersionKind, cluster string, objs []*unstructured.Unstructured, obs Observer) (int, error) {
	if s.kind(gvk) == nil {
		return 0, fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	if err := sameKind("replace", gvk, objs); err != nil {
		return 0, err
	}
	deleted := 0
	err := s.write(obs, func(b *batch) error {
		k := s.kind(gvk)
		if k == nil {
			return fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
		}
		ids, err := s.clusterIDs(k, cluster, "")
		if err != nil {
			return err
		}
		stale := make(map[int64]struct{}, len(ids))
		for _, id := range ids {
			stale[id] = struct{}{}
		}
		for _, o := range objs {
			id, err := b.upsert(k, cluster, o)
			if err != nil {
				return err
			}
			delete(stale, id)
		}
		for id := range stale {
			if err := b.deleteID(k, id); err != nil {
				return err
			}
		}
		deleted = len(stale)
		b.relisted[k] = len(objs)
		return s.w.db.Exec(`DROP TABLE IF EXISTS ` + relistTable(k, cluster))
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// sameKind reports an error naming op when an object of objs is nil or of another kind than gvk.
func sameKind(op string, gvk schema.GroupVersionKind, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		if o == nil || o.GroupVersionKind() != gvk {
			return fmt.Errorf("%s %s: object of another kind", op, gvk)
		}
	}
	return nil
}
