// Package controlplane runs a throwaway Kubernetes control plane on the local machine: one etcd,
// one kube-apiserver and one kube-controller-manager, started as child processes on free loopback
// ports, with a fresh CA, an admin kubeconfig and RBAC authorization.
//
// It is the cluster that kubesift's end-to-end tests, demo and benchmarks run against when there
// is no real one. There are no nodes and no scheduler, and the controller-manager runs only the
// controllers that keep the API's own bookkeeping true: namespace deletion, garbage collection of
// owned objects and ClusterRole aggregation. Pods, Deployments and Services are stored and
// watched, but nothing runs them, which is all an operator that reads and writes API objects
// needs. The controller-manager is optional: without its binary (setup-envtest ships none) or
// with Options.NoControllerManager, namespaces stay Terminating and aggregated ClusterRoles stay
// empty. Everything lives in one directory (certificates, kubeconfigs, etcd data and process
// logs) that Stop removes.
//
// A typical caller:
//
//	cp, err := controlplane.Start(ctx, controlplane.Options{})
//	if err != nil { ... }
//	defer cp.Stop()
//	fmt.Println("KUBECONFIG=" + cp.Kubeconfig())
package controlplane
