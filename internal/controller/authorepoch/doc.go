// Package authorepoch keeps the author epoch (admission.Epoch): the ConfigMap in the manager's
// namespace that the author policies take as their param and whose UID they write into every
// author record. The keeper watches the policies, their bindings and the ConfigMap, and renews the
// epoch whenever one of them is missing or differs from what the ConfigMap records, also when
// that happened while the manager was down. A record written while the policies were not
// enforced then names a dead epoch, and the query controllers answer no query whose record does
// not name the current one.
//
// Only the leader keeps the epoch.
package authorepoch
