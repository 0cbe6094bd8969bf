// Package admission installs kubesift's admission policies (config/admission) into a cluster and
// waits until the API server enforces them. The policies record who wrote each query's spec and
// refuse queries whose author may not list the target; without them the controller answers no
// query. Demos, benchmarks and tests install them the way a user does, from the same files.
package admission
