package index

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error caused by user input wraps ErrInvalidQuery, so callers can
// tell "the query is wrong, retrying will not help" from storage failures with one errors.Is.
var (
	// ErrInvalidQuery is the parent of all errors caused by a bad query or token.
	ErrInvalidQuery = errors.New("invalid query")
	// ErrInvalidPath reports a field path that does not follow the path grammar.
	ErrInvalidPath = errors.New("invalid path")
	// ErrInvalidValue reports an operator/value combination that cannot be evaluated.
	ErrInvalidValue = errors.New("invalid value")
	// ErrInvalidContinue reports a continue token that is malformed, tampered with,
	// from another version, or issued for a different query.
	ErrInvalidContinue = errors.New("invalid continue token")
	// ErrKindNotRegistered reports a write or query for a kind that was not registered.
	ErrKindNotRegistered = errors.New("kind not registered")
)

// QueryError describes what is wrong with a query and where.
type QueryError struct {
	// Field locates the problem in the query, for example "fields[2].path", "sort[0].path",
	// "labels" or "continue".
	Field string
	// Reason is one of the sentinel errors.
	Reason error
	// Msg says what is wrong.
	Msg string
}

// Error returns "field: msg".
func (e *QueryError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Is matches the error's Reason and ErrInvalidQuery.
func (e *QueryError) Is(target error) bool {
	return target == ErrInvalidQuery || (e.Reason != nil && target == e.Reason)
}

// Unwrap returns the Reason.
func (e *QueryError) Unwrap() error { return e.Reason }

func queryErr(field string, reason error, format string, args ...any) *QueryError {
	return &QueryError{Field: field, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
