package v1alpha1

// Condition types. They follow kstatus: Ready is always present once an object has been
// reconciled; Reconciling and Stalled are present only while they are true.
const (
	// ConditionReady says whether the object's result is current and usable.
	ConditionReady = "Ready"
	// ConditionReconciling is true while work is pending, for example while an index syncs.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is true when progress needs a change by the user.
	ConditionStalled = "Stalled"
)

// Reasons shared by the kinds.
const (
	// ReasonProgressing is the reason of Reconciling while work is pending.
	ReasonProgressing = "Progressing"
	// ReasonForbidden means that someone is not allowed to list the target: for a ResourceIndex,
	// the manager; for a SearchQuery or ClusterSearchQuery, the query's author (whoever last wrote
	// its spec) in the namespaces it searches; for a MemberCluster, the kubeconfig's user on the
	// member, which may not read discovery.
	ReasonForbidden = "Forbidden"
)

// ResourceIndex reasons.
const (
	// ReasonSynced means the initial list of the target is in the index and events are applied.
	ReasonSynced = "Synced"
	// ReasonSyncing means the initial list of the target is still being loaded.
	ReasonSyncing = "Syncing"
	// ReasonResourceNotFound means the API server does not serve the target kind (its CRD is missing).
	ReasonResourceNotFound = "ResourceNotFound"
	// ReasonDuplicate means an older ResourceIndex already mirrors the same kind.
	ReasonDuplicate = "Duplicate"
	// ReasonIndexWriteFailed means writing the kind's objects to the index fails; the mirror
	// retries with backoff and recovers by itself once writes succeed.
	ReasonIndexWriteFailed = "IndexWriteFailed"
	// ReasonInvalidSpec means the spec cannot be used, for example a field path is malformed.
	ReasonInvalidSpec = "InvalidSpec"
)

// SearchQuery and ClusterSearchQuery reasons.
const (
	// ReasonSucceeded means the query ran and status holds its current results.
	ReasonSucceeded = "Succeeded"
	// ReasonInvalidQuery means the spec or the continue token cannot be evaluated.
	ReasonInvalidQuery = "InvalidQuery"
	// ReasonResourceNotIndexed means no ResourceIndex mirrors the target kind.
	ReasonResourceNotIndexed = "ResourceNotIndexed"
	// ReasonIndexNotReady means the ResourceIndex for the target is still loading.
	ReasonIndexNotReady = "IndexNotReady"
)

// MemberCluster reasons. Ready is True only for ReasonConnected; the others say what to fix.
const (
	// ReasonConnected means the member's API server answers /readyz and discovery.
	ReasonConnected = "Connected"
	// ReasonSecretNotFound means the Secret named by spec.kubeconfigSecretRef does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretForbidden means the manager may not read the Secret named by
	// spec.kubeconfigSecretRef.
	ReasonSecretForbidden = "SecretForbidden"
	// ReasonSecretKeyNotFound means the Secret has no data under spec.kubeconfigSecretRef.key.
	ReasonSecretKeyNotFound = "SecretKeyNotFound"
	// ReasonInvalidKubeconfig means the Secret's data is not a kubeconfig kubesift can use.
	ReasonInvalidKubeconfig = "InvalidKubeconfig"
	// ReasonUnreachable means the member's API server does not answer, or is not ready.
	ReasonUnreachable = "Unreachable"
	// ReasonUnauthorized means the member's API server rejects the kubeconfig's credentials.
	ReasonUnauthorized = "Unauthorized"
)

// FinalizerIndexCleanup is set on a ResourceIndex so that its rows leave the index when it is deleted.
const FinalizerIndexCleanup = "search.kubesift.io/index-cleanup"
