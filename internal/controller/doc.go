// Package controller wires Kubernetes to kubesift's index. Its subpackages hold the reconcilers:
// resourceindex mirrors the kinds that ResourceIndex objects name into the index, and searchquery
// runs SearchQuery and ClusterSearchQuery objects against it and keeps their status current.
// catalog is the in-memory meeting point between the two: which kinds are mirrored, whether they
// have synced, and which objects just changed.
package controller
