// Package mirror copies the kinds that ResourceIndex objects name into the index, keeping a
// single copy of each object: the one in SQLite.
//
// Each mirrored kind runs a client-go Reflector, which does all the listing and watching
// (pagination, watch bookmarks, a relist after 410 Gone, exponential backoff on errors), but
// its store is not a cache. The reflector store hands every watch event to one Writer, which
// writes them to the index in batches and keeps nothing afterwards, and the reflector's
// lister writes each LIST page to the index as it arrives (index.ApplyRelist) and returns an
// empty list, so that the Replace which follows commits the relist (index.CommitRelist): in one
// transaction, the objects that no page contained disappear. Neither the pager nor the
// reflector ever holds the list, and at most one page (500 objects) and the writer's bounded
// queue are decoded at a time. The streaming list (WatchList) is turned off for these
// reflectors because the reflector collects it in a temporary store before the Replace.
//
// The alternative, the manager's cache with a custom informer (cache.Options.NewInformer),
// keeps the informer's indexer, which is the decoded copy this package exists to avoid; a
// store that keeps only key → resourceVersion, as Clusterpedia does, would still need the
// objects' old versions for live queries. Here the index has them: a write asks the index to
// read the stored version back inside the transaction (index.Observer) when a live query
// watches the kind, so an update or a delete, including one found by a relist, re-evaluates
// exactly the queries that the old or the new version matched. Kinds without live queries
// publish one kind-wide change per batch and cost no read-back.
//
// A failed write makes the mirror report its error (the ResourceIndex turns Ready=False with
// reason IndexWriteFailed) until a write succeeds again. A failed relist step fails the LIST,
// so the reflector retries it with its backoff; a failed batch of watch events replaces the
// reflector after a backoff of its own (1 s doubling to 1 min), and the new reflector relists.
package mirror
