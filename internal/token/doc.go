// Package token encodes and verifies continue tokens.
//
// A token is a keyset position: the sort key values of the last row of a page, bound to
// one query by its fingerprint and signed with an HMAC, so the next page is "rows strictly
// after this key" and can never be read for another query or from an edited token. The
// values are only ever bound as SQL parameters by the index.
package token
