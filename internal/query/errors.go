package query

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
)

// Error describes what is wrong with a query and where.
type Error struct {
	// Field locates the problem in the query, for example "fields[2].path", "sort[0].path",
	// "labels" or "continue".
	Field string
	// Reason is one of the sentinel errors.
	Reason error
	// Msg says what is wrong.
	Msg string
}

// Error returns "field: msg".
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Is matches the error's Reason and ErrInvalidQuery.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidQuery || (e.Reason != nil && target == e.Reason)
}

// Unwrap returns the Reason.
func (e *Error) Unwrap() error { return e.Reason }

// Errorf returns an Error at field with the given reason and message.
func Errorf(field string, reason error, format string, args ...any) *Error {
	return &Error{Field: field, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
