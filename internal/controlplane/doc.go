// Package controlplane runs a throwaway Kubernetes control plane on the local machine: one etcd
// and one kube-apiserver, started as child processes on free loopback ports, with a fresh CA, an
// admin kubeconfig and RBAC authorization.
//
// It is the cluster that kubesift's end-to-end tests, demo and benchmarks run against when there
// is no real one. There is no controller-manager and no scheduler: objects are stored and watched,
// but nothing acts on them, which is all an operator that only reads and writes custom resources
// needs. Everything lives in one directory (certificates, kubeconfig, etcd data and process logs)
// that Stop removes.
//
// A typical caller:
//
//	cp, err := controlplane.Start(ctx, controlplane.Options{})
//	if err != nil { ... }
//	defer cp.Stop()
//	fmt.Println("KUBECONFIG=" + cp.Kubeconfig())
package controlplane
