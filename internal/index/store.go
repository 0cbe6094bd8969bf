package index

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/go-logr/logr"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // registers the "memdb" VFS
	_ "github.com/ncruces/go-sqlite3/vfs/mvcc"  // registers the "mvcc" VFS
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubesift/kubesift/internal/query"
)

// ErrKindNotRegistered reports a write or query for a kind that was not registered.
var ErrKindNotRegistered = errors.New("kind not registered")

// errNoRelist reports a relist page or commit without BeginRelist.
var errNoRelist = errors.New("no relist in progress")

// MaxFields is the most field paths a kind may declare.
const MaxFields = 16

// Options configure a Store.
type Options struct {
	// query.Path is the database file. "" keeps the database in memory (no disk).
	Path string
	// TokenKey signs continue tokens. Empty means a random key per Store, so tokens do not
	// survive a restart; pass a stable secret to keep them valid across restarts.
	TokenKey []byte
	// Readers is the size of the reader connection pool. 0 means max(2, GOMAXPROCS).
	Readers int
	// CacheBytes bounds SQLite's page cache, shared out among the writer and the readers.
	// 0 means 4 MiB per connection in memory, where the page cache copies pages the
	// database already holds in memory, and 16 MiB per connection for a file.
	CacheBytes int64
	// Log receives problems that do not fail a call, such as a failed ANALYZE after a
	// commit. The zero Logger discards them.
	Log logr.Logger
	// vfs overrides the in-memory VFS ("mvcc" or "memdb"); used by benchmarks.
	vfs string
}

// KindConfig declares a kind before objects of it are stored.
type KindConfig struct {
	// Namespaced tells whether objects of the kind live in namespaces.
	Namespaced bool
	// Fields are paths to index (max 16), in query path grammar.
	Fields []string
}

// kind is the in-memory state of a registered kind.
type kind struct {
	id         int64
	gvk        schema.GroupVersionKind
	namespaced bool
	table      string               // "k<id>"; derived from the integer id only
	declared   string               // kinds.fields as committed with this view: see Search
	fields     map[string]string    // canonical path -> index name, scalar paths only
	lists      map[string]listField // canonical path -> side table field, list paths
	count      atomic.Int64
	estimates  estimateCache // see chooseDriver
}

// Store mirrors Kubernetes objects into SQLite and answers queries. All methods are safe
// for concurrent use. Writes are serialized on one connection; reads use a pool.
type Store struct {
	dsn      string
	memName  string
	tokenKey []byte

	writeMu sync.Mutex // serializes writers and schema changes
	w       *conn

	readers  chan *conn
	nReaders atomic.Int32
	maxRead  int

	mu    sync.RWMutex // guards kinds
	kinds map[schema.GroupVersionKind]*kind

	closed atomic.Bool

	cacheKiB int64 // page cache per connection
	relaxed  bool  // a file written with synchronous=OFF; see durability.go
	log      logr.Logger

	// open is an unobserved relist whose transaction stays open for its next pages, and
	// openErr the error of committing one that was not its own step's (write.go). Both are
	// guarded by writeMu.
	open    *openRelist
	openErr map[string]error
	// emptyRelists holds the relists in progress (by relistName) that began on a kind with no
	// rows, whose pages insert without a lookup first; guarded by writeMu.
	emptyRelists map[string]bool
}

// conn is a connection with a prepared statement cache.
type conn struct {
	db    *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

const maxCachedStmts = 256

func (c *conn) prepare(sqlText string) (*sqlite3.Stmt, error) {
	if st, ok := c.stmts[sqlText]; ok {
		// No ClearBindings: every caller binds all parameters of its statement.
		if err := st.Reset(); err == nil {
			return st, nil
		}
		_ = st.Close()
		delete(c.stmts, sqlText)
	}
	if len(c.stmts) >= maxCachedStmts {
		c.dropStmts()
	}
	st, _, err := c.db.Prepare(sqlText)
	if err != nil {
		return nil, err
	}
	c.stmts[sqlText] = st
	return st, nil
}

func (c *conn) dropStmts() {
	for k, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, k)
	}
}

func (c *conn) close() error {
	c.dropStmts()
	return c.db.Close()
}

// exec runs a statement that returns no rows.
func (c *conn) exec(sqlText string, args ...any) error {
	st, err := c.prepare(sqlText)
	if err != nil {
		return err
	}
	if err := bind(st, args); err != nil {
		return err
	}
	return st.Exec()
}

func bind(st *sqlite3.Stmt, args []any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case string:
			err = st.BindText(i+1, v)
		case []byte:
			err = st.BindBlob(i+1, v)
		case rawText:
			// BindText copies into SQLite's memory before returning, so the bytes need no
			// Go string copy of their own (BindRawText makes one).
			err = st.BindText(i+1, unsafe.String(unsafe.SliceData(v), len(v)))
		case int64:
			err = st.BindInt64(i+1, v)
		case int:
			err = st.BindInt64(i+1, int64(v))
		case float64:
			err = st.BindFloat(i+1, v)
		case bool:
			err = st.BindBool(i+1, v)
		default:
			err = fmt.Errorf("unsupported argument type %T", a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Open opens a Store.
func Open(opts Options) (*Store, error) {
	s := &Store{
		kinds: map[schema.GroupVersionKind]*kind{},
	}
	s.log = opts.Log
	s.tokenKey = opts.TokenKey
	if len(s.tokenKey) == 0 {
		s.tokenKey = make([]byte, 32)
		_, _ = rand.Read(s.tokenKey)
	}
	s.maxRead = opts.Readers
	if s.maxRead <= 0 {
		s.maxRead = max(2, runtime.GOMAXPROCS(0))
	}
	s.readers = make(chan *conn, s.maxRead)
	s.cacheKiB = cachePerConn(opts.CacheBytes, opts.Path == "", s.maxRead+1)
	if opts.Path == "" {
		vfsName := opts.vfs
		if vfsName == "" {
			vfsName = "mvcc"
		}
		s.memName = "kubesift-" + rand.Text()
		s.dsn = "file:/" + s.memName + "?vfs=" + vfsName
	} else {
		s.dsn = opts.Path
		relaxed, discarded, err := prepareFile(opts.Path)
		if err != nil {
			return nil, err
		}
		s.relaxed = relaxed
		if discarded {
			s.log.Info("Deleted an index file that was not recorded as written since the machine's last boot; list and watch rebuild it",
				"path", opts.Path)
		}
	}
	w, err := s.openConn(true)
	if err != nil {
		return nil, err
	}
	s.w = w
	if err := s.loadKinds(); err != nil {
		_ = w.close()
		return nil, err
	}
	return s, nil
}

// cachePerConn returns the page cache of each of conns connections, in KiB, for a total
// budget of total bytes (0: the default, see Options.CacheBytes). SQLite sizes the cache
// per connection, so a total budget is divided.
func cachePerConn(total int64, inMemory bool, conns int) int64 {
	if total <= 0 {
		if inMemory {
			return 4 << 10
		}
		return 16 << 10
	}
	return max(total/int64(conns)/1024, 256)
}

// walCheckpointPages is the WAL's length, in pages, after which a commit copies it into the
// database file (SQLite's default is 1,000). A relist page of 500 objects changes pages all
// over the indexes of a large kind; a longer WAL copies a page changed by many commits once.
// With synchronous=OFF as well, it made the initial sync of 30,000 objects into a file as fast
// as into memory (docs/design/index.md).
const walCheckpointPages = 10000

// openConn opens a connection and applies PRAGMAs; see doc.go for why each is set.
func (s *Store) openConn(writer bool) (*conn, error) {
	var db *sqlite3.Conn
	var err error
	if s.memName != "" {
		db, err = sqlite3.Open(s.dsn)
	} else {
		db, err = sqlite3.OpenFlags(s.dsn, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE)
	}
	if err != nil {
		return nil, fmt.Errorf("opening index database: %w", err)
	}
	if err := fts5.Register(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("registering fts5: %w", err)
	}
	c := &conn{db: db, stmts: map[string]*sqlite3.Stmt{}}
	pragmas := []string{
		`PRAGMA temp_store = MEMORY`,
		fmt.Sprintf(`PRAGMA cache_size = -%d`, s.cacheKiB),
		`PRAGMA foreign_keys = OFF`,
	}
	if s.memName != "" {
		// The database already lives in memory: there is nothing to make durable.
		pragmas = append(pragmas, `PRAGMA synchronous = OFF`)
	} else {
		if writer {
			pragmas = append(pragmas, `PRAGMA journal_mode = WAL`,
				fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, walCheckpointPages))
		}
		if s.relaxed {
			// No write waits for the disk; a file that may have outlived a crash of the
			// machine is discarded when opened (durability.go).
			pragmas = append(pragmas, `PRAGMA synchronous = OFF`)
		} else {
			// NORMAL in WAL mode never corrupts the file, even through a crash of the machine.
			pragmas = append(pragmas, `PRAGMA synchronous = NORMAL`)
		}
	}
	for _, p := range pragmas {
		if err := db.Exec(p); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := db.Exec(`PRAGMA analysis_limit = 1000`); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.BusyTimeout(10_000_000_000); err != nil {
		_ = db.Close()
		return nil, err
	}
	return c, nil
}

// Close closes all connections. In-memory data is discarded.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var errs []error
	if s.open != nil {
		// An unfinished relist: the next start relists anyway.
		_ = s.w.db.Exec(`ROLLBACK`)
		s.open = nil
	}
	for range int(s.nReaders.Load()) {
		c := <-s.readers
		errs = append(errs, c.close())
	}
	errs = append(errs, s.w.close())
	return errors.Join(errs...)
}

// acquire returns a reader connection, opening one if the pool is not full.
func (s *Store) acquire(ctx context.Context) (*conn, error) {
	select {
	case c := <-s.readers:
		return c, nil
	default:
	}
	for {
		n := s.nReaders.Load()
		if int(n) >= s.maxRead {
			break
		}
		if s.nReaders.CompareAndSwap(n, n+1) {
			c, err := s.openConn(false)
			if err != nil {
				s.nReaders.Add(-1)
				return nil, err
			}
			return c, nil
		}
	}
	select {
	case c := <-s.readers:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) release(c *conn) { s.readers <- c }

const schemaSQL = `
CREATE TABLE IF NOT EXISTS kinds (
	id INTEGER PRIMARY KEY,
	grp TEXT NOT NULL,
	version TEXT NOT NULL,
	kind TEXT NOT NULL,
	namespaced INTEGER NOT NULL,
	fields TEXT NOT NULL,
	objects INTEGER NOT NULL DEFAULT 0,
	UNIQUE (grp, version, kind)
)`

// schemaVersion is the layout of the tables, kept in PRAGMA user_version. A file index written
// with another layout is emptied when opened: the index is a cache that list and watch
// rebuild, never a source of truth.
//
//  1. each kind table has a cluster column, in its unique (ns, name, cluster) index.
const schemaVersion = 1

// resetOldSchema empties a database file whose layout is not schemaVersion.
func (s *Store) resetOldSchema() error {
	v, err := s.w.queryInt64(`PRAGMA user_version`)
	if err != nil {
		return err
	}
	if v == schemaVersion {
		return nil
	}
	st, err := s.w.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return err
	}
	var tables []string
	for st.Step() {
		tables = append(tables, st.ColumnText(0))
	}
	err = st.Err()
	_ = st.Reset()
	if err != nil {
		return err
	}
	if len(tables) > 0 {
		s.log.Info("Emptying an index file written with another layout; list and watch rebuild it",
			"layout", v, "want", schemaVersion)
	}
	return s.inTx(func() error {
		for _, t := range tables {
			// Names read from the schema table, quoted as identifiers.
			if err := s.w.db.Exec(`DROP TABLE IF EXISTS "` + strings.ReplaceAll(t, `"`, `""`) + `"`); err != nil {
				return err
			}
		}
		return s.w.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion))
	})
}

func (s *Store) loadKinds() error {
	if err := s.resetOldSchema(); err != nil {
		return fmt.Errorf("checking the index layout: %w", err)
	}
	if err := s.w.db.Exec(schemaSQL); err != nil {
		return err
	}
	if err := s.w.db.Exec(fieldsSchemaSQL); err != nil {
		return err
	}
	lists, err := s.loadLists()
	if err != nil {
		return err
	}
	st, err := s.w.prepare(`SELECT id, grp, version, kind, namespaced, fields FROM kinds`)
	if err != nil {
		return err
	}
	type row struct {
		id     int64
		gvk    schema.GroupVersionKind
		ns     bool
		fields string
	}
	var rows []row
	for st.Step() {
		gvk := schema.GroupVersionKind{Group: st.ColumnText(1), Version: st.ColumnText(2), Kind: st.ColumnText(3)}
		rows = append(rows, row{st.ColumnInt64(0), gvk, st.ColumnBool(4), st.ColumnText(5)})
	}
	if err := st.Err(); err != nil {
		return err
	}
	for _, r := range rows {
		var fields []string
		if err := json.Unmarshal([]byte(r.fields), &fields); err != nil {
			return fmt.Errorf("reading the declared fields of %s: %w", r.gvk, err)
		}
		k := &kind{id: r.id, gvk: r.gvk, namespaced: r.ns, declared: r.fields, table: fmt.Sprintf("k%d", r.id),
			fields: map[string]string{}, lists: lists[r.id]}
		if k.lists == nil {
			k.lists = map[string]listField{}
		}
		for _, f := range fields {
			if _, ok := k.lists[f]; !ok {
				k.fields[f] = indexName(k.table, f)
			}
		}
		if err := s.ensureNames(k); err != nil {
			return err
		}
		n, err := s.countRows(s.w, k)
		if err != nil {
			return err
		}
		k.count.Store(n)
		s.kinds[r.gvk] = k
	}
	return nil
}

// loadLists reads the declared list fields of every kind.
func (s *Store) loadLists() (map[int64]map[string]listField, error) {
	st, err := s.w.prepare(`SELECT id, kind, path FROM fields`)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	out := map[int64]map[string]listField{}
	for st.Step() {
		p, err := query.ParsePath(st.ColumnText(2))
		if err != nil {
			return nil, fmt.Errorf("stored field path: %w", err)
		}
		kid := st.ColumnInt64(1)
		if out[kid] == nil {
			out[kid] = map[string]listField{}
		}
		out[kid][p.String()] = listField{id: st.ColumnInt64(0), path: p}
	}
	return out, st.Err()
}

func (s *Store) countRows(c *conn, k *kind) (int64, error) {
	return c.queryInt64(`SELECT count(*) FROM ` + k.table)
}

func indexName(table, canonical string) string {
	h := fnv.New64a()
	h.Write([]byte(canonical))
	return fmt.Sprintf("%s_f%016x", table, h.Sum64())
}

// sqlString quotes s as an SQL string literal. Only used for JSON paths built from the
// validated path grammar, which cannot contain quotes; quoting is defensive.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fieldIndexExpr is the expression an index on a declared scalar path covers. Queries use
// the identical text so SQLite matches them.
func fieldIndexExpr(p query.Path) string {
	return "json_extract(obj, " + sqlString(jsonPath(p.Segments())) + ")"
}

// Register declares a kind, or changes its indexed fields.
func (s *Store) Register(gvk schema.GroupVersionKind, cfg KindConfig) error {
	if gvk.Kind == "" || gvk.Version == "" {
		return fmt.Errorf("%w: version and kind are required", query.ErrInvalidQuery)
	}
	if len(cfg.Fields) > MaxFields {
		return &query.Error{Field: "fields", Reason: query.ErrInvalidValue,
			Msg: fmt.Sprintf("%d fields declared, the maximum is %d", len(cfg.Fields), MaxFields)}
	}
	want := map[string]query.Path{}
	for i, f := range cfg.Fields {
		p, err := query.ParsePath(f)
		if err != nil {
			return query.PathError(fmt.Sprintf("fields[%d]", i), err)
		}
		want[p.String()] = p
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return errClosed
	}
	s.mu.RLock()
	k := s.kinds[gvk]
	s.mu.RUnlock()

	names := make([]string, 0, len(want))
	for canon := range want {
		names = append(names, canon)
	}
	sort.Strings(names)
	fj, err := json.Marshal(names)
	if err != nil {
		return err
	}
	lists := map[string]listField{}
	err = s.inTx(func() error {
		if k == nil {
			st, err := s.w.prepare(`INSERT INTO kinds (grp, version, kind, namespaced, fields) VALUES (?, ?, ?, ?, '[]') RETURNING id`)
			if err != nil {
				return err
			}
			if err := bind(st, []any{gvk.Group, gvk.Version, gvk.Kind, cfg.Namespaced}); err != nil {
				return err
			}
			if !st.Step() {
				return fmt.Errorf("registering %s: %w", gvk, st.Err())
			}
			id := st.ColumnInt64(0)
			_ = st.Reset()
			k = &kind{id: id, gvk: gvk, namespaced: cfg.Namespaced, table: fmt.Sprintf("k%d", id),
				fields: map[string]string{}, lists: map[string]listField{}}
			if err := s.w.db.Exec(kindSchema(k.table)); err != nil {
				return err
			}
		}
		if err := s.w.db.Exec(sideSchema(k.table)); err != nil {
			return err
		}
		if err := s.ensureNames(k); err != nil {
			return err
		}
		for canon, name := range k.fields {
			if p, ok := want[canon]; !ok || !p.Scalar() {
				if err := s.w.db.Exec(`DROP INDEX IF EXISTS ` + name); err != nil {
					return err
				}
			}
		}
		var added []listField
		for canon, lf := range k.lists {
			if _, ok := want[canon]; ok {
				lists[canon] = lf
				continue
			}
			if err := s.w.exec(`DELETE FROM `+k.table+`_fields WHERE field = ?`, lf.id); err != nil {
				return err
			}
			if err := s.w.exec(`DELETE FROM fields WHERE id = ?`, lf.id); err != nil {
				return err
			}
		}
		for canon, p := range want {
			if p.Scalar() {
				continue
			}
			if _, ok := lists[canon]; ok {
				continue
			}
			st, err := s.w.prepare(`INSERT INTO fields (kind, path) VALUES (?, ?) RETURNING id`)
			if err != nil {
				return err
			}
			if err := bind(st, []any{k.id, canon}); err != nil {
				return err
			}
			if !st.Step() {
				return fmt.Errorf("declaring %s: %w", canon, st.Err())
			}
			lf := listField{id: st.ColumnInt64(0), path: p}
			_ = st.Reset()
			lists[canon] = lf
			added = append(added, lf)
		}
		if err := s.backfill(k, added); err != nil {
			return err
		}
		for canon, p := range want {
			if !p.Scalar() {
				continue
			}
			if _, ok := k.fields[canon]; !ok {
				q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s, uid)`, indexName(k.table, canon), k.table, fieldIndexExpr(p))
				if err := s.w.db.Exec(q); err != nil {
					return err
				}
			}
		}
		return s.w.exec(`UPDATE kinds SET namespaced = ?, fields = ? WHERE id = ?`, cfg.Namespaced, string(fj), k.id)
	})
	if err != nil {
		return fmt.Errorf("registering %s: %w", gvk, err)
	}
	fields := map[string]string{}
	for canon, p := range want {
		if p.Scalar() {
			fields[canon] = indexName(k.table, canon)
		}
	}
	nk := &kind{id: k.id, gvk: gvk, namespaced: cfg.Namespaced, declared: string(fj), table: k.table, fields: fields, lists: lists}
	nk.count.Store(k.count.Load())
	s.mu.Lock()
	s.kinds[gvk] = nk
	s.mu.Unlock()
	// Statements cached on readers refer to the old schema; SQLite re-prepares them. A
	// search that resolved the old kind sees it differ from its snapshot and starts over.
	return nil
}

func kindSchema(t string) string {
	return strings.ReplaceAll(`
CREATE TABLE {t} (
	id INTEGER PRIMARY KEY,
	ns TEXT NOT NULL,
	name TEXT NOT NULL,
	uid TEXT NOT NULL,
	rv TEXT NOT NULL,
	created INTEGER NOT NULL,
	lname TEXT NOT NULL,
	obj BLOB NOT NULL,
	cluster TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX {t}_nsname ON {t} (ns, name, cluster);
CREATE INDEX {t}_name ON {t} (name, uid);
CREATE INDEX {t}_created ON {t} (created, uid);
CREATE INDEX {t}_uid ON {t} (uid);
CREATE INDEX {t}_lname ON {t} (lname);
CREATE TABLE {t}_labels (
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	num INTEGER,
	obj INTEGER NOT NULL,
	PRIMARY KEY (key, value, obj)
) WITHOUT ROWID;
CREATE TABLE {t}_owners (
	uid TEXT NOT NULL,
	obj INTEGER NOT NULL,
	PRIMARY KEY (uid, obj)
) WITHOUT ROWID;
CREATE INDEX {t}_owners_obj ON {t}_owners (obj);
`, "{t}", t)
}

var errClosed = errors.New("index store is closed")

// inTx runs fn in an immediate transaction on the writer. Callers hold writeMu.
func (s *Store) inTx(fn func() error) (err error) {
	s.commitOpen()
	if err := s.w.db.Exec(`BEGIN IMMEDIATE`); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = s.w.db.Exec(`ROLLBACK`)
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	return s.w.db.Exec(`COMMIT`)
}

// relistTables names the temporary tables of k's relists in progress, in every cluster.
func (s *Store) relistTables(k *kind) ([]string, error) {
	st, err := s.w.prepare(`SELECT name FROM temp.sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?`)
	if err != nil {
		return nil, err
	}
	defer st.Reset()
	prefix := "relist_" + k.table + "_"
	if err := bind(st, []any{int64(len(prefix)), prefix}); err != nil {
		return nil, err
	}
	var out []string
	for st.Step() {
		// Names built by relistName: letters, digits and underscores only.
		out = append(out, "temp."+st.ColumnText(0))
	}
	return out, st.Err()
}

// Unregister drops the kind and all its objects.
func (s *Store) Unregister(gvk schema.GroupVersionKind) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return errClosed
	}
	s.mu.RLock()
	k := s.kinds[gvk]
	s.mu.RUnlock()
	if k == nil {
		return nil
	}
	err := s.inTx(func() error {
		relists, err := s.relistTables(k)
		if err != nil {
			return err
		}
		for _, t := range append(relists, k.table+"_labels", k.table+"_owners", k.table+"_fields", k.table+"_names", k.table) {
			if err := s.w.db.Exec(`DROP TABLE IF EXISTS ` + t); err != nil {
				return err
			}
		}
		if err := s.w.exec(`DELETE FROM fields WHERE kind = ?`, k.id); err != nil {
			return err
		}
		return s.w.exec(`DELETE FROM kinds WHERE id = ?`, k.id)
	})
	if err != nil {
		return fmt.Errorf("unregistering %s: %w", gvk, err)
	}
	s.w.dropStmts()
	s.mu.Lock()
	delete(s.kinds, gvk)
	s.mu.Unlock()
	return nil
}

// Registered reports whether gvk is registered.
func (s *Store) Registered(gvk schema.GroupVersionKind) bool {
	return s.kind(gvk) != nil
}

func (s *Store) kind(gvk schema.GroupVersionKind) *kind {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.kinds[gvk]
}

// Count returns the number of stored objects of the kind (0 if not registered).
func (s *Store) Count(gvk schema.GroupVersionKind) (int64, error) {
	k := s.kind(gvk)
	if k == nil {
		return 0, fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	return k.count.Load(), nil
}

// CountIn returns the number of stored objects of the kind read from cluster ("" for the
// local cluster), from a read snapshot.
func (s *Store) CountIn(ctx context.Context, gvk schema.GroupVersionKind, cluster string) (int64, error) {
	k := s.kind(gvk)
	if k == nil {
		return 0, fmt.Errorf("%w: %s", ErrKindNotRegistered, gvk)
	}
	c, err := s.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer s.release(c)
	st, err := c.prepare(`SELECT count(*) FROM ` + k.table + ` WHERE cluster = ?`)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := bind(st, []any{cluster}); err != nil {
		return 0, err
	}
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), nil
}

// Bytes returns the size of the database: its pages, in memory or in the file.
func (s *Store) Bytes() (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return 0, errClosed
	}
	return s.w.queryInt64(`SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`)
}

// queryInt64 runs a statement that returns one integer and returns it.
func (c *conn) queryInt64(sqlText string) (int64, error) {
	st, err := c.prepare(sqlText)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(0), nil
}
