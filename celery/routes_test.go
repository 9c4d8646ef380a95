package celery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const routesYAML = `
task_routes:
  "tasks.*": {queue: globbed}
  tasks.add: low
  "re:^feeds\\.": {queue: feed_tasks, routing_key: feed.import, priority: 7}
  "video.?ncode*": {exchange: media, exchange_type: topic, routing_key: video.encode}
  tasks.bcast: broadcast_tasks
task_queues:
  feed_tasks: {exchange: feeds, exchange_type: topic, routing_key: "feed.#"}
  broadcast_tasks: {broadcast: true}
  plain:
`

const routesTOML = `
[task_routes]
"tasks.*" = {queue = "globbed"}
"tasks.add" = "low"
"re:^feeds\\." = {queue = "feed_tasks", routing_key = "feed.import", priority = 7}
"video.?ncode*" = {exchange = "media", exchange_type = "topic", routing_key = "video.encode"}
"tasks.bcast" = "broadcast_tasks"

[task_queues.feed_tasks]
exchange = "feeds"
exchange_type = "topic"
routing_key = "feed.#"

[task_queues.broadcast_tasks]
broadcast = true

[task_queues.plain]
`

func TestParseRoutes(t *testing.T) {
	seven := 7
	for name, r := range map[string]*Routes{"yaml": mustParse(t, routesYAML, false), "toml": mustParse(t, routesTOML, true)} {
		t.Run(name, func(t *testing.T) {
			for task, want := range map[string]TaskRoute{
				"tasks.add":       {Queue: "low"}, // exact names before patterns
				"tasks.mul":       {Queue: "globbed"},
				"tasks.bcast":     {Queue: "broadcast_tasks"},
				"feeds.fetch":     {Queue: "feed_tasks", RoutingKey: "feed.import", Priority: &seven},
				"video.encode.hd": {Exchange: "media", ExchangeType: ExchangeTopic, RoutingKey: "video.encode"},
			} {
				got, ok := r.Route(task)
				if !ok {
					t.Errorf("Route(%q): no route", task)
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Route(%q) (-want +got):\n%s", task, diff)
				}
			}
			for _, task := range []string{"other", "xfeeds.fetch", "tasks"} {
				if rt, ok := r.Route(task); ok {
					t.Errorf("Route(%q) = %+v, want none", task, rt)
				}
			}
			wantQueues := []QueueSpec{
				{Name: "feed_tasks", Exchange: "feeds", ExchangeType: ExchangeTopic, RoutingKey: "feed.#"},
				{Name: "broadcast_tasks", Exchange: "broadcast_tasks", ExchangeType: ExchangeFanout, RoutingKey: "celery"},
				{Name: "plain", Exchange: "plain", ExchangeType: ExchangeDirect, RoutingKey: "plain"},
			}
			if diff := cmp.Diff(wantQueues, r.Queues()); diff != "" {
				t.Errorf("Queues (-want +got):\n%s", diff)
			}
		})
	}
}

// TestQueueArguments: kombu.Queue's max_priority, expires and
// message_ttl (seconds), and queue_arguments as kombu passes them
// (milliseconds), in YAML and TOML.
func TestQueueArguments(t *testing.T) {
	const yamlDoc = `
task_queues:
  prio: {max_priority: 10, expires: 1.5, message_ttl: 60}
  qq: {queue_arguments: {x-queue-type: quorum, x-expires: 2000, x-message-ttl: 500}}
`
	const tomlDoc = `
[task_queues.prio]
max_priority = 10
expires = 1.5
message_ttl = 60
[task_queues.qq]
queue_arguments = {x-queue-type = "quorum", x-expires = 2000, x-message-ttl = 500}
`
	want := []QueueSpec{
		{Name: "prio", Exchange: "prio", ExchangeType: ExchangeDirect, RoutingKey: "prio", MaxPriority: 10, Expires: 1500 * time.Millisecond, MessageTTL: time.Minute},
		{Name: "qq", Exchange: "qq", ExchangeType: ExchangeDirect, RoutingKey: "qq", QueueType: QueueQuorum, Expires: 2 * time.Second, MessageTTL: 500 * time.Millisecond},
	}
	for name, r := range map[string]*Routes{"yaml": mustParse(t, yamlDoc, false), "toml": mustParse(t, tomlDoc, true)} {
		if diff := cmp.Diff(want, r.Queues()); diff != "" {
			t.Errorf("%s: Queues (-want +got):\n%s", name, diff)
		}
	}
}

func TestRoutesFirstPatternWins(t *testing.T) {
	r := NewRoutes()
	for _, p := range []string{"a.*", "a.b*", "re:a"} {
		if err := r.Add(p, TaskRoute{Queue: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddRegexp(regexp.MustCompile(`z$`), TaskRoute{Queue: "z"}); err != nil {
		t.Fatal(err)
	}
	for task, want := range map[string]string{"a.bc": "a.*", "ab": "re:a", "xyz": "z"} {
		if got, _ := r.Route(task); got.Queue != want {
			t.Errorf("Route(%q).Queue = %q, want %q", task, got.Queue, want)
		}
	}
	// A glob matches the whole name; a "re:" regexp its start (re.match).
	if _, ok := r.Route("ba"); ok {
		t.Error(`"ba" must match neither "a.*" nor "re:a"`)
	}
}

func TestGlobToRegexp(t *testing.T) {
	for _, c := range []struct {
		glob, name string
		want       bool
	}{
		{"tasks.*", "tasks.add", true},
		{"tasks.*", "tasksXadd", false}, // the dot is literal
		{"t?sks.*", "tasks.x", true},
		{"t[ab]sks.*", "tbsks.x", true},
		{"t[!ab]sks.*", "tbsks.x", false},
		{"t[!ab]sks.*", "tcsks.x", true},
		{"a[*", "a[x", true}, // an unclosed "[" is literal
		{"*", "any/thing\nat all", true},
	} {
		re := regexp.MustCompile(globToRegexp(c.glob))
		if got := re.MatchString(c.name); got != c.want {
			t.Errorf("%q ~ %q = %v, want %v (%s)", c.glob, c.name, got, c.want, re)
		}
	}
}

func TestParseRoutesErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown table":    "task_route: {a: b}",
		"unknown key":      "task_routes: {a: {queue: x, delivery_mode: 1}}",
		"bad type":         "task_routes: {a: {exchange: e, exchange_type: headers}}",
		"bad regexp":       "task_routes: {\"re:(\": x}",
		"bad priority":     "task_routes: {a: {queue: x, priority: high}}",
		"route is a list":  "task_routes: {a: [x]}",
		"bad queue name":   "task_queues: {\"_kombu.binding.x\": {}}",
		"not a mapping":    "- a\n- b",
		"syntax":           "task_routes: {a: ",
		"broadcast string": "task_queues: {b: {broadcast: yes please}}",
		"max priority 0":   "task_queues: {p: {max_priority: 0}}",
		"max priority 256": "task_queues: {p: {queue_arguments: {x-max-priority: 256}}}",
		"queue type":       "task_queues: {p: {queue_arguments: {x-queue-type: stream}}}",
		"unknown argument": "task_queues: {p: {queue_arguments: {x-overflow: reject-publish}}}",
		"negative expires": "task_queues: {p: {expires: -1}}",
		"ttl words":        "task_queues: {p: {message_ttl: soon}}",
	} {
		if _, err := ParseRoutes([]byte(doc), false); !errors.Is(err, ErrInvalidRoute) {
			t.Errorf("%s: err = %v, want ErrInvalidRoute", name, err)
		}
	}
	if _, err := ParseRoutes([]byte("[task_routes]\na = 1\n"), true); !errors.Is(err, ErrInvalidRoute) {
		t.Errorf("toml: a route of a number: err = %v", err)
	}
	if _, err := LoadRoutes(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalidRoute) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestLoadRoutes(t *testing.T) {
	dir := t.TempDir()
	for file, doc := range map[string]string{"r.yaml": routesYAML, "r.TOML": routesTOML} {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := LoadRoutes(p)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if r.Len() != 5 {
			t.Errorf("%s: %d routes, want 5", file, r.Len())
		}
	}
}

// declarer records declarations; its Publish* methods are unused.
type declarer struct {
	Publisher
	declared []QueueSpec
}

func (d *declarer) DeclareQueue(_ context.Context, q QueueSpec) error {
	d.declared = append(d.declared, q)
	return nil
}

func TestClientRoutes(t *testing.T) {
	r := mustParse(t, routesYAML, false)
	c := NewClient(nil, nil, WithRouter(r), WithDefaultQueue("dflt"))
	for _, tc := range []struct {
		name, task string
		opts       []SendOption
		want       Publishing
		prio       int
		declare    string
	}{
		{"exact", "tasks.add", nil, Publishing{Queue: "low"}, 0, ""},
		{"no route", "other", nil, Publishing{Queue: "dflt"}, 0, ""},
		{"explicit queue wins", "tasks.add", []SendOption{Queue("mine")}, Publishing{Queue: "mine"}, 0, ""},
		{"topic queue", "feeds.x", nil, Publishing{Exchange: "feeds", ExchangeType: ExchangeTopic, RoutingKey: "feed.import", Priority: 7}, 7, "feed_tasks"},
		{"explicit priority wins", "feeds.x", []SendOption{Priority(2)}, Publishing{Exchange: "feeds", ExchangeType: ExchangeTopic, RoutingKey: "feed.import", Priority: 2}, 2, "feed_tasks"},
		{"explicit exchange wins", "feeds.x", []SendOption{Route("ex", "rk")}, Publishing{Exchange: "ex", ExchangeType: ExchangeDirect, RoutingKey: "rk", Priority: 7}, 7, ""},
		{"exchange only", "video.encode", nil, Publishing{Exchange: "media", ExchangeType: ExchangeTopic, RoutingKey: "video.encode"}, 0, ""},
		{"broadcast", "tasks.bcast", nil, Publishing{Exchange: "broadcast_tasks", ExchangeType: ExchangeFanout, RoutingKey: "celery"}, 0, ""},
		{"declared direct queue", "x", []SendOption{Queue("plain")}, Publishing{Queue: "plain"}, 0, "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, pub, decl, err := c.buildMessage(tc.task, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, pub); diff != "" {
				t.Errorf("publishing (-want +got):\n%s", diff)
			}
			if m.Properties.Priority != tc.prio {
				t.Errorf("priority %d, want %d", m.Properties.Priority, tc.prio)
			}
			wantInfo := DeliveryInfo{Exchange: tc.want.Exchange, RoutingKey: tc.want.RoutingKey}
			if tc.want.Exchange == "" {
				wantInfo.RoutingKey = tc.want.Queue
			}
			if m.Properties.DeliveryInfo != wantInfo {
				t.Errorf("delivery_info %+v, want %+v", m.Properties.DeliveryInfo, wantInfo)
			}
			got := ""
			if decl != nil {
				got = decl.Name
			}
			if got != tc.declare {
				t.Errorf("declare %q, want %q", got, tc.declare)
			}
		})
	}
	// A declared queue is declared once per client.
	d := &declarer{}
	c = NewClient(d, nil, WithRouter(r))
	spec, _ := r.QueueSpec("feed_tasks")
	for range 2 {
		if err := c.declare(context.Background(), &spec); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.declared) != 1 {
		t.Errorf("declared %d times, want once", len(d.declared))
	}
	// A router function works too.
	c = NewClient(nil, nil, WithRouter(RouterFunc(func(task string) (TaskRoute, bool) {
		return TaskRoute{Queue: "q-" + task}, true
	})))
	if _, pub := c.BuildMessage("t"); pub.Queue != "q-t" {
		t.Errorf("RouterFunc: queue %q, want q-t", pub.Queue)
	}
	if _, _, _, err := c.buildMessage("t", ExchangeType("headers")); !errors.Is(err, ErrInvalidRoute) {
		t.Errorf("bad exchange type: err = %v", err)
	}
}

func mustParse(t *testing.T, doc string, isTOML bool) *Routes {
	t.Helper()
	r, err := ParseRoutes([]byte(doc), isTOML)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
