package celery

import (
	"unicode/utf8"

	"github.com/celeriac/celeriac/internal/kombu"
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
	case d.env != nil:
		id, _ = d.env.Headers["id"].(string)
		task, _ = d.env.Headers["task"].(string)
		if id == "" {
			id = d.env.Properties.CorrelationID
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
			id = kombu.TaskIDHint(d.Raw)
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
