package worker

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// This file answers revoke_by_stamped_headers (celery/worker/control.py):
// stamps flagged as revoked discard the tasks carrying them when they
// come to run, and with terminate the running ones are stopped.

// revokedStamps holds the stamp values flagged as revoked, by header name
// (worker/state.py revoked_stamps). The zero value is ready.
type revokedStamps struct {
	mu     sync.Mutex
	values map[string][]any
}

// add flags values under header (appended to those already flagged).
func (s *revokedStamps) add(header string, values []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string][]any{}
	}
	s.values[header] = append(s.values[header], values...)
}

// match returns the header and value of msg's first stamp flagged as
// revoked, as Request.revoked compares them: a list stamp matches when one
// of its values is flagged.
func (s *revokedStamps) match(msg *celery.Message) (string, any, bool) {
	if len(msg.StampedHeaders) == 0 {
		return "", nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range msg.StampedHeaders {
		flagged, ok := s.values[h]
		if !ok {
			continue
		}
		v, ok := msg.Stamps[h]
		if !ok || v == nil {
			continue
		}
		if hit, ok := stampsIntersect(asList(v), flagged); ok {
			return h, hit, true
		}
	}
	return "", nil, false
}

// stampsIntersect returns the first of have that is in want.
func stampsIntersect(have, want []any) (any, bool) {
	for _, h := range have {
		k := stampKey(h)
		for _, x := range want {
			if stampKey(x) == k {
				return h, true
			}
		}
	}
	return nil, false
}

// asList is Celery's maybe_list: a list stays, anything else is one item.
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// stampKey is the value a stamp compares by: its text for a string, its
// number for a number (1 and 1.0 match, as in Python), else its repr.
func stampKey(v any) string {
	switch x := v.(type) {
	case string:
		return "s" + x
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return "n" + strconv.FormatFloat(f, 'g', -1, 64)
		}
	case float64:
		return "n" + strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return "n" + strconv.Itoa(x)
	case int64:
		return "n" + strconv.FormatInt(x, 10)
	}
	return "r" + pyjson.PyRepr(v)
}

// RevokeByStampedHeaders flags stamp values as revoked: queued tasks
// carrying one of them under that header are discarded with REVOKED when
// they come to run (revoke_by_stamped_headers without terminate).
func (w *Worker) RevokeByStampedHeaders(headers map[string]any) {
	for _, h := range slices.Sorted(maps.Keys(headers)) {
		w.stamps.add(h, asList(headers[h]))
	}
}

// revokeByStampedHeaders is the revoke_by_stamped_headers command: headers
// is {name: value or [values]} or a list of "name=value"; with terminate
// the running tasks stamped with one of the values are terminated too.
func (w *Worker) revokeByStampedHeaders(args map[string]any) (any, error) {
	headers := map[string]any{}
	switch h := args["headers"].(type) {
	case map[string]any:
		headers = h
	case []any:
		for _, e := range stringList(h) {
			k, v, _ := strings.Cut(e, "=")
			headers[k] = v
		}
	case nil:
	default:
		return nil, pyErr("TypeError('headers must be a dict or a list of key=value')")
	}
	w.RevokeByStampedHeaders(headers)
	repr := pyjson.PyRepr(headers)
	if !truthy(args["terminate"]) {
		w.o.logger.Info("Tasks flagged as revoked by stamped headers: " + repr)
		return ok(fmt.Sprintf("headers %s flagged as revoked, but not terminated", repr)), nil
	}
	signum, known := signalNumber(stringOr(args["signal"], ""))
	if !known {
		return nil, valueError("Unsupported signal: " + stringOr(args["signal"], ""))
	}
	w.reg.mu.Lock()
	var running []*request
	for _, r := range w.reg.active {
		running = append(running, r)
	}
	w.reg.mu.Unlock()
	terminated := map[string][]any{}
	for _, r := range running {
		for _, h := range slices.Sorted(maps.Keys(headers)) {
			v, ok := r.msg.Stamps[h]
			if !ok || v == nil || !slices.Contains(r.msg.StampedHeaders, h) {
				continue
			}
			hit, ok := stampsIntersect(asList(v), asList(headers[h]))
			if !ok {
				continue
			}
			if w.terminate(r, signum) {
				terminated[h] = append(terminated[h], hit)
			}
			break
		}
	}
	if len(terminated) == 0 {
		return ok(fmt.Sprintf("headers %s were not terminated", repr)), nil
	}
	// Celery reports {header: set of values}.
	var b strings.Builder
	for i, h := range slices.Sorted(maps.Keys(terminated)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyjson.PyRepr(h) + ": {")
		for j, v := range terminated[h] {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyjson.PyRepr(v))
		}
		b.WriteString("}")
	}
	return ok("headers {" + b.String() + "} revoked"), nil
}
