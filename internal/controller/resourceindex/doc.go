// Package resourceindex holds the ResourceIndex reconciler. A ResourceIndex names a kind; the
// reconciler asks the manager's cache for an informer of that kind (as unstructured objects),
// and a single batching writer turns the informer's events into index transactions, publishing
// each committed change to the catalog so that queries re-evaluate.
//
// The mirror is level-based like the rest of Kubernetes: once the informer's initial list is
// delivered, the stored set of the kind is replaced by exactly the informer's store. Anything
// left over in a file-backed index from before a restart disappears then, and a relist after a
// broken watch reaches the index as the deletes, updates and adds the informer derives from it.
package resourceindex
