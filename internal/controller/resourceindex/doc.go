// Package resourceindex holds the ResourceIndex reconciler. A ResourceIndex names a kind; the
// reconciler checks that the kind is served and that the manager may list and watch it,
// registers it in the index, starts or stops its mirror (package mirror) and reports the
// mirror's state in the ResourceIndex's status: syncing, synced with the object count, or
// failing to write.
package resourceindex
