// Command bench measures kubesift against the Kubernetes API server on the same data, in one run.
//
// It starts the project's control plane (etcd and kube-apiserver on loopback), loads N realistic
// Template objects (internal/sample) through the API, runs the manager binary against it, and
// measures, each next to a baseline from the same run:
//
//  1. initial sync: a ResourceIndex over N existing objects turning Ready, against a plain
//     paginated LIST of the same objects;
//  2. query latency: kubesift's query path in process (query.Compile and Store.Search over the same
//     objects), against a kube-apiserver LIST with the equivalent label selector plus client-side
//     filtering, sorting and counting, and against the same work over a controller-runtime
//     informer cache; then the same queries through the manager's read API, reached through the
//     API server's aggregated endpoint with the page's full objects in the response;
//  3. freshness: from an acknowledged update to the SearchQuery status showing it, with 1 and 100
//     live queries;
//  4. cost: the manager's memory and CPU, and its SearchQuery status writes during a burst of
//     updates that no query can see;
//  5. with -clusters K: the same N objects spread over K clusters, queried in process across
//     every cluster and synced by one ResourceIndex from a hub and K-1 member control planes,
//     each against its single-cluster figure.
//
// It writes docs/benchmarks.json (merged with the runs at other N already there),
// docs/benchmarks.md and docs/benchmarks.png. It asserts nothing about time, but exits non-zero
// when kubesift's answer to a query differs from a baseline's.
package main
