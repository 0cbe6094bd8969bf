// Package resourceindex holds the ResourceIndex reconciler. A ResourceIndex names a kind; the
// reconciler checks that the kind is served and that the manager may list and watch it,
// registers it in the index, starts or stops its mirror (package mirror) and reports the
// mirror's state in the ResourceIndex's status: syncing, synced with the object count, or
// failing to write.
//
// The reconciler runs on every replica, not only on the leader: every replica keeps its own
// index (the read API answers from it), so every replica mirrors. Only the leader writes to
// ResourceIndex objects (finalizer, status, events); a follower computes the same outcome and
// keeps it to itself. A replica that becomes the leader reconciles every ResourceIndex once,
// so that their status describes its mirrors.
package resourceindex
