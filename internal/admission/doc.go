// Package admission installs kubesift's admission policies (config/admission) into a cluster,
// keeps the author epoch they take as their param, and waits until the API server enforces them.
// The policies record who wrote each query's spec, with the current epoch, and refuse queries
// whose author may not list the target; without them, or with a record from another epoch, the
// controller answers no query. Demos, benchmarks and tests install them the way a user does, from
// the same files, and renew the epoch with the same code as the manager.
package admission
