package readapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubesift/kubesift/internal/index"
	"github.com/kubesift/kubesift/internal/query"
)

// reader runs queries against the index for both entry points.
type reader struct {
	store   *index.Store
	kinds   *kinds
	access  access
	timeout time.Duration
}

// search reads one page, with the documents when documents is true. A query the index cannot
// answer within the read timeout is a 504; a bad continue token is a 400.
func (r *reader) search(ctx context.Context, k mirroredKind, q *query.Query, token string, documents bool) (index.Page, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var page index.Page
	var err error
	if documents {
		page, err = r.store.SearchDocuments(ctx, q, token)
	} else {
		page, err = r.store.Search(ctx, q, token)
	}
	switch {
	case err == nil:
		return page, nil
	case errors.Is(err, query.ErrInvalidQuery):
		return index.Page{}, apierrors.NewBadRequest(err.Error())
	case errors.Is(err, index.ErrKindNotRegistered):
		return index.Page{}, notSynced(k)
	case ctx.Err() != nil:
		return index.Page{}, timeout(k, r.timeout)
	default:
		return index.Page{}, apierrors.NewInternalError(fmt.Errorf("searching %s: %w", k.target().String(), err))
	}
}

// notSynced is the 503 for a kind whose mirror is still loading.
func notSynced(k mirroredKind) error {
	err := apierrors.NewServiceUnavailable(fmt.Sprintf(
		"ResourceIndex %s is loading the initial list of %s; retry in a moment", k.state.Index, k.target().String()))
	err.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
	return err
}

// timeout is the 504 for a query that took longer than the read timeout.
func timeout(k mirroredKind, d time.Duration) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure,
		Code:   http.StatusGatewayTimeout,
		Reason: metav1.StatusReasonTimeout,
		Message: fmt.Sprintf("the index did not answer the query on %s within %s; narrow the filter or declare the filtered paths in the ResourceIndex",
			k.target().String(), d),
		Details: &metav1.StatusDetails{RetryAfterSeconds: 1},
	}}
}
