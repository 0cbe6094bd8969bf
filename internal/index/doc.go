// Package index mirrors Kubernetes objects into an embedded SQLite database and answers
// compiled queries (package query) over them.
//
// An informer cache answers "the 50 Deployments with label X, sorted by age" by decoding,
// filtering and sorting every object on every request. The index keeps the objects in
// SQLite tables with real indexes instead: labels, owners, names and declared field paths
// each have an index, so a selective query touches only the rows it returns, and a page is
// cut with a keyset cursor (package token), not by counting an offset.
//
// Search plans each query in one read transaction: it counts the matches, picks the most
// selective term to drive a conjunction, and either walks the sort order's index (many
// matches) or sorts the few matches. Its answer agrees with query.Query.Matches, which is
// the reference the differential tests hold it to. Store.Apply and Store.Replace write
// batches on one writer connection; readers never block it. A relist is written page by page
// (BeginRelist, ApplyRelist) and committed in one transaction (CommitRelist) that deletes the
// rows no page contained, so the list never has to be in memory at once (pages that no
// Observer watches, as in a kind's first sync, share transactions of up to 5,000 objects, which
// a commit of the index's pages then writes once instead of page by page); an Observer passed
// to a write learns each change inside its transaction, with the stored version it replaced
// read back from the database, so callers need no copy of the objects of their own.
//
// docs/design/index.md records the schema, the planner's choices and the measurements
// behind them.
package index
