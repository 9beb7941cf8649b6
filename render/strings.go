package render

import (
	"strings"
	"unicode/utf8"
)

// truncate cuts s to at most n runes, ending in "..." when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 3 {
		return strings.Repeat(".", n)
	}
	count := 0
	for i := range s {
		if count == n-3 {
			return strings.TrimRight(s[:i], " ") + "..."
		}
		count++
	}
	return s
}

// oneLine replaces control characters (newlines included) with spaces and
// collapses runs of white space.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
	}), " ")
}
