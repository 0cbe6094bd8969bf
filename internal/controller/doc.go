// Package controller wires Kubernetes to kubesift's index. Its subpackages hold the reconcilers:
// resourceindex mirrors the kinds that ResourceIndex objects name into the index, membercluster
// connects to the clusters that MemberCluster objects name and probes their health, and searchquery
// runs SearchQuery and ClusterSearchQuery objects against the index and keeps their status
// current. catalog is the in-memory meeting point between resourceindex and searchquery: which kinds are mirrored, whether they
// have synced, and which objects just changed.
package controller
