package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from the broker (event fields, node names, replies) is written by
// whoever can publish there: before it reaches a terminal, its control
// characters are escaped, so a forged hostname cannot clear the screen,
// move the cursor or fake another line.

// printable returns s unchanged when every rune of it is printable, else
// strconv.Quote(s): quoted, with \n, \x1b, \u2028 and invalid bytes
// escaped, so an escaped value cannot pass for a plain one.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// printableText is printable for multi-line text meant to be read as
// such (an inspect report): newlines and tabs stay, every other
// non-printable rune or invalid byte is escaped in place (\x1b, \u2028).
func printableText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t' || unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
