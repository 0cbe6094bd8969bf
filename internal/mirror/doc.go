// Package mirror copies the kinds that ResourceIndex objects name into the index, keeping a
// single copy of each object: the one in SQLite.
//
// Each mirrored kind runs a client-go Reflector, which does all the listing and watching
// (a streamed or paginated list, watch bookmarks, a relist after 410 Gone, exponential
// backoff on errors), but its store is not a cache. The reflector store hands every watch
// event to one Writer, which writes them to the index in batches and keeps nothing
// afterwards.
//
// A list is written to the index as it arrives, as a relist: index.BeginRelist, one
// index.ApplyRelist per page of 500 objects (the index lets pages of a first sync share a
// transaction), and index.CommitRelist in the reflector's
// Replace, which deletes in one transaction the objects that no page contained. The
// reflector first asks for a streamed list (WatchList: a watch with sendInitialEvents, served
// from the API server's watch cache in one response, without a request per page). The watch
// it opens is wrapped so that the initial events go to the index in pages and the reflector
// receives only the bookmark that ends them, once every page is written, and the changes that
// follow: its temporary store stays empty, and the Replace that follows carries no items. When
// the API server does not stream lists, the reflector falls back to LIST, whose lister reads
// page by page and likewise hands the reflector an empty list. Either way the next page is
// decoded while the writer writes the previous one, so at most two pages and the writer's
// bounded queue are decoded at a time.
//
// A streamed list is all watch events, so their decoding is most of the cost of listing:
// NewListerWatcher frames each event with a light scan and decodes it in one pass into an
// unstructured object (jsonread.go), where client-go's watch decoder reads every event five
// times or more (framing, kind, the event, validating and decoding the object). The decoder
// gives the API machinery's results, which a fuzz test checks, in about 0.55x its time
// (BenchmarkEventDecoder). Lists still go through the dynamic client.
//
// A relist's decoded pages are garbage as soon as they are written: with the index in a file
// the live heap stays small, and Go's default GOGC of 100 would collect after every few MiB a
// relist decodes. SetRelistGCPercent (the manager sets FileRelistGCPercent for a file index)
// raises the collector's target while any relist is written, and sets it back, returning the
// freed memory to the operating system, once the last one commits (gc.go).
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
// reason IndexWriteFailed) until a write succeeds again. A failed relist step ends the streamed
// list with an error, so that the reflector lists instead, and fails the LIST, so that the
// reflector retries it with its backoff; a failed batch of watch events replaces the
// reflector after a backoff of its own (1 s doubling to 1 min), and the new reflector relists.
package mirror
