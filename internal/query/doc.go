// Package query is the query model: field paths, predicates, label requirements and sort
// keys, compiled from a Spec into an immutable Query, and evaluated on an object by
// Query.Matches.
//
// It knows nothing of storage. The index renders the same compiled Query as SQL, and
// Matches is the reference its answers must agree with (the index's differential and
// fuzz tests hold it to that). Every error caused by user input is an *Error wrapping
// ErrInvalidQuery, so callers can tell a query that retrying will not fix from a failure.
package query
