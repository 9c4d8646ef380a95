package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapiJSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json does not validate: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIMatchesRoutes checks that every route of the router is
// documented and every documented operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	f := newFixture(t, Deps{})
	var routes, documented []string
	for _, r := range f.engine.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				name := seg[1:]
				if name == "task" {
					// gin's one wildcard for a task's name (POST) and its
					// id (the other methods); the document calls it
					// task_id, as /task-status/{task_id} does.
					name = "task_id"
				}
				path = strings.Replace(path, seg, "{"+name+"}", 1)
			}
		}
		routes = append(routes, r.Method+" "+path)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	if diff := cmp.Diff(documented, routes); diff != "" {
		t.Errorf("routes vs openapi.json (-documented +routed):\n%s", diff)
	}
}

// TestContract drives every documented operation, with good and bad
// input, and validates each response (status, content type, body) against
// openapi.json.
func TestContract(t *testing.T) {
	doc := loadSpec(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Deps{Revoker: &fakeRevoker{}, Workers: fakeWorkers{{Hostname: "celery@a", Online: true}}, Pauser: &fakePauser{}}, WithToken("tok"))
	f.startWorker(nil)
	id := uuid.NewString()
	// Messages waiting in a queue no worker consumes, for the queue
	// operations.
	held := uuid.NewString()
	for i, name := range []string{"tasks.add", "tasks.mul", "tasks.add"} {
		opts := []celery.SendOption{celery.Queue("held"), celery.Args(1, 2)}
		if i == 0 {
			opts = append(opts, celery.TaskID(held))
		}
		if _, err := f.client.SendTask(testCtx(t), name, opts...); err != nil {
			t.Fatal(err)
		}
	}
	// An archive entry, as a worker would copy a failed task.
	for _, id := range []string{held + "a", held + "b"} {
		if err := f.client.Publisher().(celery.Archiver).Archive(testCtx(t), celery.ArchivedMessage{ID: id, TaskID: id,
			Task: "tasks.add", Queue: "held", Reason: celery.ArchiveFailed, Message: []byte(`{}`)}, 10, 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		method, target, body string
		status               int
		noAuth               bool
	}{
		{"GET", "/run-task/?duration=0", "", 200, false},
		{"GET", "/run-task/?duration=x", "", 422, false},
		{"GET", "/run-task/?duration=0", "", 401, true},
		{"GET", "/task-status/" + id, "", 200, false},
		{"GET", "/task-status/a;b", "", 422, false},
		{"POST", "/api/v1/tasks/tasks.add", `{"args": [1, 2], "task_id": "` + id + `"}`, 202, false},
		{"POST", "/api/v1/tasks/tasks.nope", `{}`, 404, false},
		{"POST", "/api/v1/tasks/tasks.add", `{"priority": 99}`, 422, false},
		{"GET", "/api/v1/tasks/" + id + "?wait=10s", "", 200, false},
		{"GET", "/task-status/" + id, "", 200, false},
		{"GET", "/api/v1/tasks/" + id + "/events", "", 200, false},
		{"GET", "/api/v1/tasks/x;y/events", "", 422, false},
		{"GET", "/api/v1/tasks/x;y", "", 422, false},
		{"DELETE", "/api/v1/tasks/" + id + "?terminate=true", "", 202, false},
		{"GET", "/api/v1/queues", "", 200, false},
		{"GET", "/api/v1/workers", "", 200, false},
		{"GET", "/api/v1/queues/held/messages?limit=2", "", 200, false},
		{"GET", "/api/v1/queues/unacked/messages", "", 422, false},
		{"GET", "/api/v1/queues/held/messages?cursor=zz", "", 422, false},
		{"GET", "/api/v1/queues/held/messages?limit=0", "", 422, false},
		{"DELETE", "/api/v1/queues/held/messages/" + held, "", 200, false},
		{"DELETE", "/api/v1/queues/held/messages/" + held, "", 404, false},
		{"DELETE", "/api/v1/queues/held/messages?task=tasks.mul", "", 200, false},
		{"DELETE", "/api/v1/queues/held/messages", "", 422, false},
		{"POST", "/api/v1/queues/held/move", `{"to": "held"}`, 422, false},
		{"POST", "/api/v1/queues/held/move", `{"to": "held2", "task_id": "nope"}`, 404, false},
		{"POST", "/api/v1/queues/held/move", `{"to": "held2", "bogus": 1}`, 422, false},
		{"POST", "/api/v1/queues/held/move", `{"to": "held2"}`, 200, false},
		{"GET", "/api/v1/archive?limit=5", "", 200, false},
		{"POST", "/api/v1/queues/held/resume", "", 409, false},
		{"POST", "/api/v1/queues/held/pause", "", 200, false},
		{"GET", "/api/v1/queues?queue=held", "", 200, false},
		{"POST", "/api/v1/queues/held/resume", "", 200, false},
		{"POST", "/api/v1/queues/unacked/pause", "", 422, false},
		{"GET", "/api/v1/archive?cursor=x", "", 422, false},
		{"DELETE", "/api/v1/archive/nope", "", 404, false},
		{"POST", "/api/v1/archive/nope/requeue", "", 404, false},
		{"POST", "/api/v1/archive/" + held + "a/requeue", "", 200, false},
		{"DELETE", "/api/v1/archive/" + held + "a", "", 404, false},
		{"DELETE", "/api/v1/archive/" + held + "b", "", 200, false},
		{"GET", "/healthz", "", 200, true},
		{"GET", "/readyz", "", 200, true},
		{"GET", "/metrics", "", 200, false},
		{"GET", "/openapi.json", "", 200, true},
		{"GET", "/docs", "", 200, true},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			var body *bytes.Reader
			if tc.body != "" {
				body = bytes.NewReader([]byte(tc.body))
			} else {
				body = bytes.NewReader(nil)
			}
			req := httptest.NewRequestWithContext(testCtx(t), tc.method, tc.target, body)
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if !tc.noAuth {
				req.Header.Set("Authorization", "Bearer tok")
			}
			w := httptest.NewRecorder()
			f.engine.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.target, w.Code, w.Body, tc.status)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("FindRoute: %v", err)
			}
			covered[route.Method+" "+route.Path] = true
			// Bodies that are not JSON (the event stream, the docs page,
			// metrics) are checked for status and content type only.
			opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				ExcludeResponseBody: !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json")}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 w.Code,
				Header:                 w.Header(),
				Body:                   http.NoBody,
				Options:                opts,
			}
			out.SetBodyBytes(w.Body.Bytes())
			if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
				t.Errorf("response does not match openapi.json: %v\nbody: %s", err, w.Body)
			}
		})
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !covered[method+" "+path] {
				t.Errorf("documented operation %s %s not driven by the contract test", method, path)
			}
		}
	}
}

// TestOpenAPISchemas: every JSON body the API takes or answers with 2xx
// has a schema (the /docs page shows them), and the task routes name their
// parameter task_id, as /task-status/{task_id} does.
func TestOpenAPISchemas(t *testing.T) {
	doc := loadSpec(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				if mt := rb.Value.Content.Get("application/json"); mt == nil || mt.Schema == nil {
					t.Errorf("%s %s: request body without a JSON schema", method, path)
				}
			}
			for code, r := range op.Responses.Map() {
				if !strings.HasPrefix(code, "2") || r.Value == nil {
					continue
				}
				if mt := r.Value.Content.Get("application/json"); mt != nil && mt.Schema == nil {
					t.Errorf("%s %s %s: JSON response without a schema", method, path, code)
				}
			}
		}
	}
	for _, p := range []string{"/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/events"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("openapi.json has no %s", p)
		}
	}
}
