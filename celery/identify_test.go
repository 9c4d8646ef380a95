package celery

import (
	"strings"
	"testing"

	"github.com/celeriac/celeriac/internal/kombu"
)

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        *Delivery
		id, task string
	}{
		{"parsed envelope", &Delivery{env: &kombu.Envelope{Headers: map[string]any{"id": "a", "task": "t"}}}, "a", "t"},
		{"id of the wrong type: correlation id", &Delivery{env: &kombu.Envelope{Headers: map[string]any{"id": 5}, Properties: kombu.Properties{CorrelationID: "c"}}}, "c", ""},
		{"over the limit", &Delivery{TaskID: "big"}, "big", ""},
		{"JSON that is no envelope", &Delivery{Raw: []byte(`{"headers": {"id": "j", "task": "t"}}`)}, "j", "t"},
		{"JSON with a correlation id only", &Delivery{Raw: []byte(`{"properties": {"correlation_id": "k"}}`)}, "k", ""},
		{"truncated", &Delivery{Raw: []byte(`{"body": "x", "headers": {"task": "t", "id" : "tr", "ret`)}, "tr", ""},
		{"escaped quotes only", &Delivery{Raw: []byte(`{"body": "{\"id\": \"no\"}`)}, "", ""},
		{"control characters", &Delivery{Raw: []byte("{\"id\": \"a\x01b\"")}, "", ""},
		{"too long", &Delivery{TaskID: strings.Repeat("x", 256)}, "", ""},
		{"nothing", &Delivery{Raw: []byte{0xff}}, "", ""},
	} {
		if id, task := tc.d.Identify(); id != tc.id || task != tc.task {
			t.Errorf("%s: Identify() = %q, %q; want %q, %q", tc.name, id, task, tc.id, tc.task)
		}
	}
	// The id is found behind a large body, as the pop script finds it.
	raw := `{"body": "` + strings.Repeat("A", 1<<20) + `", "headers": {"id": "behind"}, "properties": {}}`
	if got := kombu.TaskIDHint([]byte(raw)); got != "behind" {
		t.Errorf("taskIDHint behind 1 MiB = %q", got)
	}
}
