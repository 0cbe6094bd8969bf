package searchquery

import (
	searchv1alpha1 "github.com/kubesift/kubesift/api/v1alpha1"
	"github.com/kubesift/kubesift/internal/index"
)

// The functions below are the parts of an evaluation that the read API shares with the query
// controllers: it answers the same spec once, with the same messages and the same status.

// InvalidQueryMessage says what is wrong with a query and where, as "spec.fields[1].path: ...".
func InvalidQueryMessage(err error) string { return invalidQueryMessage(err) }

// NotIndexedMessage tells users that no ResourceIndex mirrors target and how to create one.
func NotIndexedMessage(target searchv1alpha1.TargetRef) string {
	return resourceNotIndexed(target).message
}

// NotSyncedMessage tells users that the ResourceIndex indexName is still loading target.
func NotSyncedMessage(target searchv1alpha1.TargetRef, indexName string) string {
	return indexNotReady(target, indexName).message
}

// SetPage writes page into st as the status of a query that ran: counts, token, references and a
// Ready condition, exactly as a SearchQuery at generation would show them.
func SetPage(st *searchv1alpha1.QueryStatus, generation int64, page index.Page) {
	applyOutcome(st, generation, succeeded(page))
}

// SetNotSynced writes into st the status of a query whose target is still loading.
func SetNotSynced(st *searchv1alpha1.QueryStatus, generation int64, target searchv1alpha1.TargetRef, indexName string) {
	applyOutcome(st, generation, indexNotReady(target, indexName))
}
