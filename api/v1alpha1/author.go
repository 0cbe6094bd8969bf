package v1alpha1

// Annotations that record the author of a SearchQuery or ClusterSearchQuery: the user who last
// wrote its spec. The MutatingAdmissionPolicy in config/admission writes them from the request's
// user when the query is created or its spec changes, and restores the old values on any other
// update, so that nobody can set them to someone else. The controller answers a query only while
// its author may list the target.
const (
	// AnnotationAuthor holds the author's user name.
	AnnotationAuthor = "search.kubesift.io/author"
	// AnnotationAuthorUID holds the author's UID; empty when the authenticator gives none.
	AnnotationAuthorUID = "search.kubesift.io/author-uid"
	// AnnotationAuthorGroups holds the author's groups as a list of double-quoted strings,
	// for example ["team-a","system:authenticated"].
	AnnotationAuthorGroups = "search.kubesift.io/author-groups"
	// AnnotationAuthorExtra holds the extra attributes of the author's authentication as a map
	// from double-quoted keys to lists of double-quoted values, keys sorted, for example
	// {"authentication.kubernetes.io/credential-id":["JTI=1b2c"]}.
	AnnotationAuthorExtra = "search.kubesift.io/author-extra"
	// AnnotationAuthorEpoch holds the UID of the author epoch ConfigMap that the policies read
	// when the record was written. The manager replaces that ConfigMap whenever the policies
	// were missing or changed, so a record forged while they were not enforced names an epoch
	// that is not the current one.
	AnnotationAuthorEpoch = "search.kubesift.io/author-epoch"
)
