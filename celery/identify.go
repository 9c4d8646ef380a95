package celery

import (
	"bytes"
	"unicode/utf8"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// maxTaskIDLen bounds the task id Identify reports: a longer one is not a
// key worth writing a result under.
const maxTaskIDLen = 255

// Identify returns the task id and name of a delivery that could not be
// decoded, as far as they can be found cheaply, so that the rejection can
// be stored as the task's FAILURE and a client waiting on it is answered.
// It looks at the parsed envelope's "id" and "task" headers and its
// correlation_id; for an envelope that did not parse, at the same fields
// in the JSON if it decodes, else at the first "id" (or
// "correlation_id") string a textual search of the first 4 KiB and last
// 16 KiB finds; for a message over the size limit, at d.TaskID. An id
// that is not short printable UTF-8 is not reported.
func (d *Delivery) Identify() (id, task string) {
	switch {
	case d.Envelope != nil:
		id, _ = d.Envelope.Headers["id"].(string)
		task, _ = d.Envelope.Headers["task"].(string)
		if id == "" {
			id = d.Envelope.Properties.CorrelationID
		}
	case d.TaskID != "":
		id = d.TaskID
	case d.Raw != nil:
		if v, err := pyjson.Decode(d.Raw); err == nil {
			obj, _ := v.(map[string]any)
			h, _ := obj["headers"].(map[string]any)
			id, _ = h["id"].(string)
			task, _ = h["task"].(string)
			if id == "" {
				p, _ := obj["properties"].(map[string]any)
				id, _ = p["correlation_id"].(string)
			}
		} else {
			id = taskIDHint(d.Raw)
		}
	}
	if !plausibleID(id) {
		id = ""
	}
	if !plausibleID(task) {
		task = ""
	}
	return id, task
}

func plausibleID(s string) bool {
	if s == "" || len(s) > maxTaskIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// taskIDHint finds the value of the first "id" (else "correlation_id")
// string member in the last 16 KiB or the first 4 KiB of raw, the same
// search PopBatchScript makes for a message over the size limit.
func taskIDHint(raw []byte) string {
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
