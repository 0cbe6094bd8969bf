// Package membercluster holds the MemberCluster reconciler. A MemberCluster names a Secret that
// holds the kubeconfig of another cluster; the reconciler reads it, builds a client from it and
// probes the member every interval (/readyz, then discovery), reporting Ready with the member's
// version and the time of the last contact, or Ready=False with what to fix.
//
// Credentials are read from the API server on each probe and never cached as objects, logged
// or quoted in messages. Each referenced Secret is watched by name, which RBAC can grant for
// that Secret alone, so that a rotated kubeconfig takes effect at once.
//
// Like the ResourceIndex reconciler, it runs on every replica, since every replica mirrors;
// only the leader writes status and events.
package membercluster
