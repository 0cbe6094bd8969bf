package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
)

// ErrInvalid is wrapped by every Decode error.
var ErrInvalid = errors.New("invalid continue token")

// tokenVersion is the first byte of every continue token; bump it when the layout changes.
const tokenVersion = 1

const (
	tagNull  = 0
	tagInt   = 1
	tagFloat = 2
	tagText  = 3
	tagBlob  = 4
	macSize  = 16
	fpSize   = 16
	maxToken = 8 << 10
)

// Encode returns the token of a position in the order of the query with the given
// fingerprint (hex, 16 bytes): the sort key values of the last row returned. Values are
// nil, int64, float64, string or []byte, as SQLite returns them:
//
//	version | fingerprint (16) | values (tag + payload)... | HMAC-SHA256 (first 16 bytes)
func Encode(key []byte, fingerprint string, values []any) string {
	fp, _ := hex.DecodeString(fingerprint)
	b := []byte{tokenVersion}
	b = append(b, fp...)
	for _, v := range values {
		switch x := v.(type) {
		case nil:
			b = append(b, tagNull)
		case int64:
			b = append(b, tagInt)
			b = binary.BigEndian.AppendUint64(b, uint64(x))
		case float64:
			b = append(b, tagFloat)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
		case string:
			b = append(b, tagText)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case []byte:
			b = append(b, tagBlob)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = m.Sum(b)[:len(b)+macSize]
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode verifies a token and returns its n values. It fails with an error wrapping
// ErrInvalid for anything but an untampered token that Encode issued with key for the
// query with this fingerprint.
func Decode(key []byte, fingerprint string, n int, token string) ([]any, error) {
	bad := func(msg string) error { return &decodeError{msg} }
	if len(token) > maxToken {
		return nil, bad("token is too long")
	}
	for i := 0; i < len(token); i++ {
		// The decoder skips CR and LF; accept only the alphabet so a token has one spelling.
		if c := token[i]; (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return nil, bad("token is not base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return nil, bad("token is not base64url")
	}
	if len(b) < 1+fpSize+macSize {
		return nil, bad("token is truncated")
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:macSize], mac) {
		return nil, bad("token was modified or issued by another index")
	}
	if body[0] != tokenVersion {
		return nil, bad("token version is not supported")
	}
	fp, _ := hex.DecodeString(fingerprint)
	if !hmac.Equal(body[1:1+fpSize], fp) {
		return nil, bad("token was issued for a different query")
	}
	rest := body[1+fpSize:]
	var out []any
	for len(rest) > 0 {
		tag := rest[0]
		rest = rest[1:]
		switch tag {
		case tagNull:
			out = append(out, nil)
		case tagInt, tagFloat:
			if len(rest) < 8 {
				return nil, bad("token is truncated")
			}
			u := binary.BigEndian.Uint64(rest)
			rest = rest[8:]
			if tag == tagInt {
				out = append(out, int64(u))
			} else {
				out = append(out, math.Float64frombits(u))
			}
		case tagText, tagBlob:
			l, k := binary.Uvarint(rest)
			if k <= 0 || l > uint64(len(rest)-k) {
				return nil, bad("token is truncated")
			}
			data := rest[k : k+int(l)]
			rest = rest[k+int(l):]
			if tag == tagText {
				out = append(out, string(data))
			} else {
				out = append(out, append([]byte{}, data...))
			}
		default:
			return nil, bad("token is malformed")
		}
	}
	if len(out) != n {
		return nil, bad("token does not match the query's sort")
	}
	return out, nil
}

// decodeError says what is wrong with a token; it reads without the ErrInvalid prefix
// because callers report it as the continue field's problem.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

func (e *decodeError) Unwrap() error { return ErrInvalid }
