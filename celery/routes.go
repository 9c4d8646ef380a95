package celery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// This file is Celery's routing: task_routes (which task goes where) and
// task_queues (how a queue is bound: its exchange, the exchange's type,
// its binding key), as celery/app/routes.py and celery/app/amqp.py
// apply them when a task is sent.

// Exchange types (kombu's Exchange.type).
const (
	ExchangeDirect = "direct"
	ExchangeTopic  = "topic"
	ExchangeFanout = "fanout"
)

// ErrInvalidRoute is wrapped by the errors of a routing table that
// cannot be used: a bad pattern, an unknown exchange type or key, a file
// that does not parse.
var ErrInvalidRoute = errors.New("invalid route")

// TaskRoute is where a task goes: one entry of task_routes. Empty fields are
// left to the call's options, the queue's declaration (QueueSpec) and the
// defaults, as Celery merges them.
type TaskRoute struct {
	Queue        string
	Exchange     string
	ExchangeType string // ExchangeDirect (default), ExchangeTopic or ExchangeFanout
	RoutingKey   string
	Priority     *int // nil: none given
}

// Router chooses a task's route from its name, as a Celery router
// function does; ok is false when it has no route for the task.
type Router interface {
	Route(task string) (r TaskRoute, ok bool)
}

// RouterFunc adapts a function to Router.
type RouterFunc func(task string) (TaskRoute, bool)

// Route calls f.
func (f RouterFunc) Route(task string) (TaskRoute, bool) { return f(task) }

// QueueSpec declares a queue as an entry of Celery's task_queues does
// (kombu.Queue): the exchange it is bound to (default: an exchange of the
// queue's name), the exchange's type and the binding key (default: the
// queue's name). A fanout queue is kombu's Broadcast: every consumer gets
// a copy of each message (see Broadcast).
type QueueSpec struct {
	Name         string
	Exchange     string
	ExchangeType string
	RoutingKey   string
	// The queue's arguments (kombu's queue_arguments), honoured by a
	// transport with real queues (AMQP); Redis ignores them, as kombu's
	// Redis transport does.
	MaxPriority int           // x-max-priority (max_priority); 0: none
	QueueType   string        // x-queue-type: "" (the broker's default), QueueClassic or QueueQuorum
	Expires     time.Duration // x-expires (expires): deleted after this long unused; 0: never
	MessageTTL  time.Duration // x-message-ttl (message_ttl); 0: none
}

// Queue types (x-queue-type; Celery's task_default_queue_type and
// task_create_missing_queue_type).
const (
	QueueClassic = "classic"
	QueueQuorum  = "quorum"
)

// HasArguments reports whether q sets any queue argument.
func (q QueueSpec) HasArguments() bool {
	return q.MaxPriority != 0 || q.QueueType != "" || q.Expires != 0 || q.MessageTTL != 0
}

// Broadcast reports whether the queue is a kombu Broadcast queue (its
// exchange is a fanout).
func (q QueueSpec) Broadcast() bool { return q.ExchangeType == ExchangeFanout }

// WithDefaults returns q with the exchange, its type and the binding key
// filled as kombu and Celery default them: an exchange of the queue's
// name, direct, bound with the queue's name; a broadcast queue's key is
// Celery's default routing key, "celery".
func (q QueueSpec) WithDefaults() QueueSpec {
	if q.Exchange == "" {
		q.Exchange = q.Name
	}
	if q.ExchangeType == "" {
		q.ExchangeType = ExchangeDirect
	}
	switch {
	case q.RoutingKey != "":
	case q.ExchangeType == ExchangeDirect:
		q.RoutingKey = q.Name
	case q.ExchangeType == ExchangeFanout:
		// Celery gives a task_queues entry without one the default
		// routing key, task_default_queue's name (amqp.py
		// `Queues.__setitem__`): a Broadcast queue's messages travel on
		// "/<db>.<exchange>/celery".
		q.RoutingKey = DefaultQueue
	}
	return q
}

// QueueTable is implemented by a Router that also declares queues
// (Routes): the client uses their exchange and binding.
type QueueTable interface {
	QueueSpec(name string) (QueueSpec, bool)
}

// QueueDeclarer is implemented by a transport that can declare a queue
// and bind it to its exchange (kombu's queue_declare and queue_bind), as
// Celery does before it publishes to a declared queue and a worker does
// before it consumes one.
type QueueDeclarer interface {
	DeclareQueue(ctx context.Context, q QueueSpec) error
}

// Routes is a routing table as Celery's task_routes (a dict, MapRoute)
// with the queues of task_queues. Lookup tries the exact task names
// first, then the patterns in the order they were added: globs (a name
// with "*", matched whole as fnmatch does) and regular expressions
// (matched from the start of the name, as re.match). Build it with Add,
// AddRegexp and DeclareQueue, or load it with LoadRoutes; then it is safe
// for concurrent use.
type Routes struct {
	exact    map[string]TaskRoute
	patterns []routePattern
	queues   map[string]QueueSpec
	order    []string // queue names in declaration order
}

type routePattern struct {
	re    *regexp.Regexp
	route TaskRoute
}

// NewRoutes returns an empty routing table.
func NewRoutes() *Routes {
	return &Routes{exact: map[string]TaskRoute{}, queues: map[string]QueueSpec{}}
}

// RegexpPrefix marks a task_routes key as a regular expression
// (re.compile(...) in Python) in Add and in a routes file.
const RegexpPrefix = "re:"

// Add routes the tasks matching pattern: a task name, a glob with "*"
// (as Celery treats a key with "*"), or RegexpPrefix and a regular
// expression. A route's exchange type must be known.
func (r *Routes) Add(pattern string, route TaskRoute) error {
	if err := checkExchangeType(route.ExchangeType); err != nil {
		return fmt.Errorf("route %q: %w", pattern, err)
	}
	switch {
	case strings.HasPrefix(pattern, RegexpPrefix):
		re, err := regexp.Compile(`^(?:` + pattern[len(RegexpPrefix):] + `)`)
		if err != nil {
			return fmt.Errorf("%w: route %q: %w", ErrInvalidRoute, pattern, err)
		}
		r.patterns = append(r.patterns, routePattern{re, route})
	case strings.Contains(pattern, "*"):
		re, err := regexp.Compile(globToRegexp(pattern))
		if err != nil {
			return fmt.Errorf("%w: route %q: %w", ErrInvalidRoute, pattern, err)
		}
		r.patterns = append(r.patterns, routePattern{re, route})
	case pattern == "":
		return fmt.Errorf("%w: empty task name", ErrInvalidRoute)
	default:
		r.exact[pattern] = route
	}
	return nil
}

// AddRegexp routes the tasks whose name re matches (anywhere, as Go's
// MatchString: anchor it with ^ for re.match's behaviour).
func (r *Routes) AddRegexp(re *regexp.Regexp, route TaskRoute) error {
	if err := checkExchangeType(route.ExchangeType); err != nil {
		return fmt.Errorf("route %s: %w", re, err)
	}
	r.patterns = append(r.patterns, routePattern{re, route})
	return nil
}

// DeclareQueue adds q to the table's queues (task_queues); a later
// declaration of the same name replaces it.
func (r *Routes) DeclareQueue(q QueueSpec) error {
	if err := ValidateQueue(q.Name); err != nil {
		return err
	}
	if err := checkExchangeType(q.ExchangeType); err != nil {
		return fmt.Errorf("queue %q: %w", q.Name, err)
	}
	if err := q.checkArguments(); err != nil {
		return fmt.Errorf("queue %q: %w", q.Name, err)
	}
	if _, ok := r.queues[q.Name]; !ok {
		r.order = append(r.order, q.Name)
	}
	r.queues[q.Name] = q.WithDefaults()
	return nil
}

// Route returns the route of task: an exact name first, then the first
// pattern that matches.
func (r *Routes) Route(task string) (TaskRoute, bool) {
	if rt, ok := r.exact[task]; ok {
		return rt, true
	}
	for _, p := range r.patterns {
		if p.re.MatchString(task) {
			return p.route, true
		}
	}
	return TaskRoute{}, false
}

// QueueSpec returns the declaration of queue name.
func (r *Routes) QueueSpec(name string) (QueueSpec, bool) {
	q, ok := r.queues[name]
	return q, ok
}

// Queues returns the declared queues in declaration order.
func (r *Routes) Queues() []QueueSpec {
	out := make([]QueueSpec, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.queues[n])
	}
	return out
}

// Len returns the number of routes.
func (r *Routes) Len() int { return len(r.exact) + len(r.patterns) }

// checkArguments refuses queue arguments RabbitMQ would refuse.
func (q QueueSpec) checkArguments() error {
	switch {
	case q.MaxPriority < 0 || q.MaxPriority > 255:
		return fmt.Errorf("%w: max_priority %d (want 1 to 255)", ErrInvalidRoute, q.MaxPriority)
	case q.QueueType != "" && q.QueueType != QueueClassic && q.QueueType != QueueQuorum:
		return fmt.Errorf("%w: queue type %q (want classic or quorum)", ErrInvalidRoute, q.QueueType)
	case q.Expires < 0 || q.MessageTTL < 0:
		return fmt.Errorf("%w: expires and message_ttl must not be negative", ErrInvalidRoute)
	}
	return nil
}

func checkExchangeType(t string) error {
	switch t {
	case "", ExchangeDirect, ExchangeTopic, ExchangeFanout:
		return nil
	}
	return fmt.Errorf("%w: exchange type %q (want direct, topic or fanout)", ErrInvalidRoute, t)
}

// globToRegexp translates a glob as Python's fnmatch.translate does:
// "*" any run, "?" one character, "[...]" a set ("[!...]" its
// complement), the whole name matched.
func globToRegexp(glob string) string {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(glob)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) { // no closing bracket: a literal "["
				b.WriteString(`\[`)
				continue
			}
			set := string(rs[i+1 : j])
			if strings.HasPrefix(set, "!") {
				set = "^" + set[1:]
			} else if strings.HasPrefix(set, "^") {
				set = `\` + set
			}
			b.WriteString("[" + strings.ReplaceAll(set, `\`, `\\`) + "]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// LoadRoutes reads a routes file: YAML (.yaml, .yml, .json) or TOML
// (.toml) with two tables, both optional, named as Celery's settings:
//
//	task_routes:            # task name, glob or "re:" regexp -> route
//	  tasks.add: low        # a queue name
//	  "feeds.*": {queue: feed_tasks, routing_key: feed.import}
//	  "re:^video\.": {queue: video, priority: 5}
//	task_queues:            # queue -> its binding (kombu.Queue)
//	  feed_tasks: {exchange: feeds, exchange_type: topic, routing_key: "feed.#"}
//	  broadcast_tasks: {broadcast: true}   # kombu.common.Broadcast
//
//	  prio: {max_priority: 10}                 # x-max-priority
//	  qq: {queue_arguments: {x-queue-type: quorum}}
//
// A route takes queue, exchange, exchange_type, routing_key and priority;
// a queue takes exchange, exchange_type, routing_key, broadcast, and
// kombu.Queue's max_priority, expires and message_ttl (seconds) and
// queue_arguments (x-max-priority, x-queue-type, x-expires and
// x-message-ttl, in milliseconds). The
// routes keep the file's order. Errors wrap ErrInvalidRoute and name the
// file.
func LoadRoutes(path string) (*Routes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRoute, err)
	}
	r, err := ParseRoutes(data, strings.EqualFold(filepath.Ext(path), ".toml"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRoutes parses a routes file's content (see LoadRoutes): TOML when
// isTOML, else YAML.
func ParseRoutes(data []byte, isTOML bool) (*Routes, error) {
	var top []entry
	var err error
	if isTOML {
		top, err = tomlEntries(data)
	} else {
		top, err = yamlEntries(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRoute, err)
	}
	r := NewRoutes()
	for _, e := range top {
		sub, ok := e.value.([]entry)
		if !ok {
			if e.value == nil {
				continue
			}
			return nil, fmt.Errorf("%w: %s must be a table", ErrInvalidRoute, e.key)
		}
		switch e.key {
		case "task_routes":
			for _, re := range sub {
				route, err := parseRoute(re.value)
				if err != nil {
					return nil, fmt.Errorf("%w: task_routes %q: %w", ErrInvalidRoute, re.key, err)
				}
				if err := r.Add(re.key, route); err != nil {
					return nil, err
				}
			}
		case "task_queues":
			for _, qe := range sub {
				q, err := parseQueue(qe.key, qe.value)
				if err != nil {
					return nil, fmt.Errorf("%w: task_queues %q: %w", ErrInvalidRoute, qe.key, err)
				}
				if err := r.DeclareQueue(q); err != nil {
					return nil, fmt.Errorf("%w: task_queues: %w", ErrInvalidRoute, err)
				}
			}
		default:
			return nil, fmt.Errorf("%w: unknown table %q (want task_routes, task_queues)", ErrInvalidRoute, e.key)
		}
	}
	return r, nil
}

// entry is one key of a mapping in document order; value is a string,
// an int64, a bool, []entry (a mapping) or nil.
type entry struct {
	key   string
	value any
}

func parseRoute(v any) (TaskRoute, error) {
	if s, ok := v.(string); ok { // a queue name
		return TaskRoute{Queue: s}, nil
	}
	fields, ok := v.([]entry)
	if !ok {
		return TaskRoute{}, errors.New("want a queue name or a table")
	}
	var rt TaskRoute
	for _, f := range fields {
		var err error
		switch f.key {
		case "queue":
			rt.Queue, err = str(f.value)
		case "exchange":
			rt.Exchange, err = str(f.value)
		case "exchange_type":
			rt.ExchangeType, err = str(f.value)
		case "routing_key":
			rt.RoutingKey, err = str(f.value)
		case "priority":
			n, ok := f.value.(int64)
			if !ok || n < 0 || n > 255 {
				return rt, fmt.Errorf("priority %v: want an integer from 0 to 255", f.value)
			}
			p := int(n)
			rt.Priority = &p
		default:
			return rt, fmt.Errorf("unknown key %q (want queue, exchange, exchange_type, routing_key, priority)", f.key)
		}
		if err != nil {
			return rt, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return rt, nil
}

func parseQueue(name string, v any) (QueueSpec, error) {
	q := QueueSpec{Name: name}
	if v == nil {
		return q, nil
	}
	fields, ok := v.([]entry)
	if !ok {
		return q, errors.New("want a table")
	}
	for _, f := range fields {
		var err error
		switch f.key {
		case "exchange":
			q.Exchange, err = str(f.value)
		case "exchange_type":
			q.ExchangeType, err = str(f.value)
		case "routing_key":
			q.RoutingKey, err = str(f.value)
		case "broadcast":
			b, ok := f.value.(bool)
			if !ok {
				return q, errors.New("broadcast: want true or false")
			}
			if b {
				q.ExchangeType = ExchangeFanout
			}
		case "max_priority":
			q.MaxPriority, err = integer(f.value, 1, 255)
		case "expires":
			q.Expires, err = seconds(f.value)
		case "message_ttl":
			q.MessageTTL, err = seconds(f.value)
		case "queue_arguments":
			err = parseQueueArguments(&q, f.value)
		default:
			return q, fmt.Errorf("unknown key %q (want exchange, exchange_type, routing_key, broadcast, max_priority, expires, message_ttl, queue_arguments)", f.key)
		}
		if err != nil {
			return q, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return q, nil
}

// parseQueueArguments reads a task_queues entry's queue_arguments, the
// x- arguments kombu passes to queue.declare as they are: x-max-priority,
// x-queue-type, x-expires and x-message-ttl (milliseconds).
func parseQueueArguments(q *QueueSpec, v any) error {
	fields, ok := v.([]entry)
	if !ok {
		return errors.New("want a table")
	}
	for _, f := range fields {
		var err error
		var ms int
		switch f.key {
		case "x-max-priority":
			q.MaxPriority, err = integer(f.value, 1, 255)
		case "x-queue-type":
			q.QueueType, err = str(f.value)
		case "x-expires":
			ms, err = integer(f.value, 1, 1<<31-1)
			q.Expires = time.Duration(ms) * time.Millisecond
		case "x-message-ttl":
			ms, err = integer(f.value, 0, 1<<31-1)
			q.MessageTTL = time.Duration(ms) * time.Millisecond
		default:
			return fmt.Errorf("unknown argument %q (want x-max-priority, x-queue-type, x-expires, x-message-ttl)", f.key)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return nil
}

// integer reads an integer from lo to hi.
func integer(v any, lo, hi int) (int, error) {
	n, ok := v.(int64)
	if !ok || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%v: want an integer from %d to %d", v, lo, hi)
	}
	return int(n), nil
}

// seconds reads a positive number of seconds (kombu's expires and
// message_ttl are floats).
func seconds(v any) (time.Duration, error) {
	var f float64
	switch x := v.(type) {
	case int64:
		f = float64(x)
	case float64:
		f = x
	case string:
		var err error
		if f, err = strconv.ParseFloat(x, 64); err != nil {
			return 0, fmt.Errorf("%q: want a number of seconds", x)
		}
	default:
		return 0, fmt.Errorf("%v: want a number of seconds", v)
	}
	if f <= 0 || f > 1<<31/1000 {
		return 0, fmt.Errorf("%v: want a positive number of seconds", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%v: want a string", v)
	}
	return s, nil
}

// yamlEntries decodes a YAML document into entries, keeping the order of
// its mappings.
func yamlEntries(data []byte) ([]entry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	v, err := yamlValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	es, ok := v.([]entry)
	if !ok {
		return nil, errors.New("the document must be a mapping")
	}
	return es, nil
}

func yamlValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		es := make([]entry, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a string", k.Line)
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			es = append(es, entry{k.Value, v})
		}
		return es, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return i, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return b, nil
		}
		return n.Value, nil
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	}
	return nil, fmt.Errorf("line %d: want a mapping or a scalar", n.Line)
}

// tomlEntries decodes a TOML document into entries, keeping the order of
// its keys (toml.MetaData.Keys lists them as they appear).
func tomlEntries(data []byte) ([]entry, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, err
	}
	var top []entry
	index := map[string]int{} // top-level key -> position in top
	seen := map[string]bool{} // "table\x00key" added already
	for _, k := range md.Keys() {
		if len(k) == 0 {
			continue
		}
		i, ok := index[k[0]]
		if !ok {
			i = len(top)
			index[k[0]] = i
			if _, isMap := raw[k[0]].(map[string]any); !isMap {
				top = append(top, entry{k[0], tomlScalar(raw[k[0]])})
				continue
			}
			top = append(top, entry{k[0], []entry{}})
		}
		if len(k) < 2 {
			continue
		}
		sub, _ := raw[k[0]].(map[string]any)
		id := k[0] + "\x00" + k[1]
		if sub == nil || seen[id] {
			continue
		}
		seen[id] = true
		es := top[i].value.([]entry)
		top[i].value = append(es, entry{k[1], tomlValue(sub[k[1]])})
	}
	return top, nil
}

func tomlValue(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return tomlScalar(v)
	}
	// Inner tables' order does not matter (their keys are fields).
	es := make([]entry, 0, len(m))
	for k, x := range m {
		es = append(es, entry{k, tomlScalar(x)})
	}
	return es
}

func tomlScalar(v any) any {
	switch x := v.(type) {
	case string, int64, bool, nil:
		return x
	case map[string]any:
		return tomlValue(x)
	}
	return fmt.Sprint(v)
}

// destination is where buildMessage sends a task: the publishing's
// routing fields, and the declared queue to declare first (nil: none).
type destination struct {
	pub     Publishing
	declare *QueueSpec
}

// destination resolves where task goes, as Celery's Router.route and
// amqp.send_task_message do (docs/interop.md#routing): the call's queue
// or exchange, else the router's route, else the default queue; the
// route's priority unless the call gave one (it sets o's priority). A
// direct exchange without a routing key publishes straight to the queue
// (kombu's anonymous exchange); otherwise the message goes through the
// exchange (the queue's own when the call or route names none) with the
// routing key (the queue's binding key when none is given).
func (c *Client) destination(task string, o *sendOptions) (destination, error) {
	queue, exchange, etype, rk := o.queue, o.exchange, o.exchangeType, o.routingKey
	if c.router != nil {
		if rt, ok := c.router.Route(task); ok {
			if queue == "" && exchange == "" { // the call's destination wins whole
				queue, exchange, rk = rt.Queue, rt.Exchange, rt.RoutingKey
				etype = cmp.Or(etype, rt.ExchangeType)
			}
			if !o.prioritySet && rt.Priority != nil {
				o.msg.Properties.Priority = *rt.Priority
			}
		}
	}
	if err := checkExchangeType(etype); err != nil {
		return destination{}, err
	}
	if queue == "" && exchange == "" {
		queue = c.defaultQueue
	}
	var spec QueueSpec
	declared := false
	if queue != "" {
		if c.queues != nil {
			spec, declared = c.queues.QueueSpec(queue)
		}
		if !declared {
			spec = QueueSpec{Name: queue}.WithDefaults() // task_create_missing_queues
		}
	}
	etype = cmp.Or(etype, spec.ExchangeType, ExchangeDirect)
	var d destination
	if queue != "" && etype == ExchangeDirect && (exchange == "" || rk == "") {
		d.pub = Publishing{Queue: queue}
	} else {
		if exchange == "" {
			exchange, rk = spec.Exchange, cmp.Or(rk, spec.RoutingKey)
		}
		d.pub = Publishing{Exchange: exchange, ExchangeType: etype, RoutingKey: rk}
	}
	if declared && !spec.Broadcast() {
		d.declare = &spec
	}
	return d, nil
}

// declare declares q through the publisher once per client (kombu's
// maybe_declare), when the publisher can (QueueDeclarer).
func (c *Client) declare(ctx context.Context, q *QueueSpec) error {
	if q == nil {
		return nil
	}
	if _, ok := c.declared.Load(q.Name); ok {
		return nil
	}
	d, ok := c.pub.(QueueDeclarer)
	if !ok {
		return nil
	}
	if err := d.DeclareQueue(ctx, *q); err != nil {
		return err
	}
	c.declared.Store(q.Name, true)
	return nil
}

// WorkerDirectExchange is the direct exchange of worker_direct queues
// (celery/utils/nodenames.py `WORKER_DIRECT_EXCHANGE`).
const WorkerDirectExchange = "C.dq2"

// WorkerDirect returns the queue through which one named worker is sent
// tasks when it runs with worker_direct ("<hostname>.dq2" bound to
// WorkerDirectExchange with the hostname as routing key, as Celery's
// celery.utils.worker_direct). Send to it with
// Route(WorkerDirectExchange, hostname).
func WorkerDirect(hostname string) QueueSpec {
	return QueueSpec{Name: hostname + ".dq2", Exchange: WorkerDirectExchange, ExchangeType: ExchangeDirect, RoutingKey: hostname}
}
