package query

import "unicode/utf8"

const invalidRune = -1

func decodeRune(s string) (rune, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return invalidRune, 1
	}
	return r, size
}
