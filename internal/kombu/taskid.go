package kombu

import "bytes"

// TaskIDHint finds the value of the first "id" (else "correlation_id")
// string member in the last 16 KiB or the first 4 KiB of raw, the same
// search PopBatchScript makes for a message over the size limit.
func TaskIDHint(raw []byte) string {
	parts := [2][]byte{raw[max(0, len(raw)-16384):], raw[:min(len(raw), 4096)]}
	for _, key := range [...]string{`"id"`, `"correlation_id"`} {
		for _, p := range parts {
			if id := findStringMember(p, key); id != "" {
				return id
			}
		}
	}
	return ""
}

// findStringMember returns the first value of `key: "value"` in s (JSON
// whitespace allowed around the colon) whose value has no escapes.
func findStringMember(s []byte, key string) string {
	for {
		i := bytes.Index(s, []byte(key))
		if i < 0 {
			return ""
		}
		s = s[i+len(key):]
		rest := skipSpace(s)
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = skipSpace(rest[1:])
		if len(rest) == 0 || rest[0] != '"' {
			continue
		}
		rest = rest[1:]
		end := bytes.IndexAny(rest, `"\`)
		if end > 0 && rest[end] == '"' {
			return string(rest[:end])
		}
	}
}

func skipSpace(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		s = s[1:]
	}
	return s
}
