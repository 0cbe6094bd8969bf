// Package readapi serves the index as an aggregated API, query.kubesift.io/v1alpha1, so that
// people and programs can ask it questions directly, with kubectl and client-go, and without
// writing to etcd.
//
// The idea: the manager already holds every mirrored object in its index, so it can answer a
// question once, in the request that asks it, instead of through a SearchQuery's status. Two
// entry points share one path through the index:
//
//   - Search and ClusterSearch are created and answered in the response, like a
//     SubjectAccessReview: the spec of a SearchQuery in, its status out, nothing stored.
//   - Under /apis/query.kubesift.io/v1alpha1/resources the mirrored kinds are served the way the
//     Kubernetes API serves them (discovery, list and get, Table output), so a kubeconfig whose
//     server URL ends in that prefix makes plain kubectl read from the index, with field selectors
//     on any path of the query grammar.
//
// The server is built on k8s.io/apiserver: the aggregator authenticates callers, and this server
// trusts it through delegated authentication, then asks the cluster (a SubjectAccessReview through
// the delegated authorizer, whose answers are cached briefly) whether the caller may list the
// target resource. A caller who may not gets 403, never an empty list. Every manager replica
// serves the API from its own index, leader or not.
package readapi
