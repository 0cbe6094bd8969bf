// Package searchquery runs SearchQuery and ClusterSearchQuery objects against the index and keeps
// a page of matching object references in their status.
//
// A query is evaluated when its spec changes and again whenever an object of its target kind
// changes in a way the query can see: the catalog reports every committed change, and a query is
// re-evaluated only if its compiled filter matches the object before or after the change (or the
// whole kind changed, for example because its index finished loading). Re-evaluations of one
// query are coalesced to at most one per requery interval, and status is written only when the
// page, the counts or the conditions differ from what is already stored, so a busy cluster does
// not turn into a stream of status writes.
//
// A query answers only what its author may list. The admission policies in config/admission
// record who last wrote its spec; before every evaluation the controller asks the API server, with
// a SubjectAccessReview cached briefly, whether that user may list the target in the namespaces
// the query searches, and reports Forbidden with no results otherwise. Answered and forbidden
// queries are evaluated again periodically, since a right can change without any event here.
package searchquery
