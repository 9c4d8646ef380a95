// Package embedded is an in-process, in-memory Redis (miniredis) for
// `celeriac serve` without a broker, examples and tests: no redis-server
// needed. Python Celery clients, workers and Flower can use it through its
// URL. It lives outside celery/ so that users of the library do not link
// miniredis.
package embedded

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// Server is an in-process Redis (miniredis) for `make run`, examples and
// demos: no redis-server needed. Python Celery clients, workers and Flower
// can use it through its URL. It keeps everything in memory.
type Server struct {
	mr *miniredis.Miniredis
}

// Start starts an embedded Redis listening on addr, e.g.
// "127.0.0.1:6379" or "127.0.0.1:0" for a free port.
func Start(addr string) (*Server, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded: broker on %s: %w", addr, err)
	}
	// Set before anyone can know the address.
	mr.Server().SetPreHook(newResp3Fix(mr).hook)
	return &Server{mr: mr}, nil
}

// URL returns the redis:// URL of database 0.
func (e *Server) URL() string { return "redis://" + e.mr.Addr() + "/0" }

// Addr returns host:port.
func (e *Server) Addr() string { return e.mr.Addr() }

// Close stops the server.
func (e *Server) Close() { e.mr.Close() }

// resp3Fix answers sorted-set range commands WITH SCORES the way Redis
// does on RESP3 connections: an array of [member, score] pairs. miniredis
// (v2.40) sends RESP2's flat array there, which redis-py 8 (RESP3 by
// default) cannot unpack, so kombu's visibility sweep — ZRANGE
// unacked_index … BYSCORE REV LIMIT … WITHSCORES — would kill a Python
// worker on the embedded broker. Everything else goes to miniredis.
type resp3Fix struct {
	mr *miniredis.Miniredis
	mu sync.Mutex
	db map[*server.Peer]int  // selected database per connection
	tx map[*server.Peer]bool // inside MULTI: leave queuing to miniredis
}

func newResp3Fix(mr *miniredis.Miniredis) *resp3Fix {
	return &resp3Fix{mr: mr, db: map[*server.Peer]int{}, tx: map[*server.Peer]bool{}}
}

func (f *resp3Fix) hook(c *server.Peer, cmd string, args ...string) bool {
	switch cmd {
	case "SELECT":
		if len(args) == 1 {
			if n, err := strconv.Atoi(args[0]); err == nil {
				f.track(c, func() { f.db[c] = n })
			}
		}
		return false
	case "MULTI":
		f.track(c, func() { f.tx[c] = true })
		return false
	case "EXEC", "DISCARD":
		f.track(c, func() { delete(f.tx, c) })
		return false
	case "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE":
	default:
		return false
	}
	if !c.Resp3 {
		return false
	}
	f.mu.Lock()
	db, inTx := f.db[c], f.tx[c]
	f.mu.Unlock()
	if inTx {
		return false
	}
	q, ok := parseRange(cmd, args)
	if !ok || !q.withScores {
		return false // not ours, or an error miniredis reports best
	}
	set, err := f.mr.DB(db).SortedSet(q.key)
	if err != nil && err != miniredis.ErrKeyNotFound {
		return false
	}
	pairs := q.apply(set)
	c.WriteLen(len(pairs))
	for _, p := range pairs {
		c.WriteLen(2)
		c.WriteBulk(p.member)
		c.WriteFloat(p.score)
	}
	return true
}

func (f *resp3Fix) track(c *server.Peer, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.db[c]; !known {
		f.db[c] = 0
		c.OnDisconnect(func() {
			f.mu.Lock()
			delete(f.db, c)
			delete(f.tx, c)
			f.mu.Unlock()
		})
	}
	fn()
}

type zrangeQuery struct {
	key        string
	byScore    bool
	rev        bool
	withScores bool
	start, end string // indexes or score bounds, in the command's order
	offset     int
	count      int // -1: no limit
}

type scored struct {
	member string
	score  float64
}

// parseRange reads ZRANGE key start stop [BYSCORE] [REV] [LIMIT o c]
// [WITHSCORES] and the older ZREVRANGE / Z[REV]RANGEBYSCORE forms.
func parseRange(cmd string, args []string) (zrangeQuery, bool) {
	if len(args) < 3 {
		return zrangeQuery{}, false
	}
	q := zrangeQuery{key: args[0], start: args[1], end: args[2], count: -1}
	switch cmd {
	case "ZREVRANGE":
		q.rev = true
	case "ZRANGEBYSCORE":
		q.byScore = true
	case "ZREVRANGEBYSCORE":
		q.byScore, q.rev = true, true
	}
	for i := 3; i < len(args); i++ {
		switch strings.ToUpper(args[i]) {
		case "BYSCORE":
			q.byScore = true
		case "REV":
			q.rev = true
		case "WITHSCORES":
			q.withScores = true
		case "LIMIT":
			if i+2 >= len(args) {
				return q, false
			}
			var err1, err2 error
			q.offset, err1 = strconv.Atoi(args[i+1])
			q.count, err2 = strconv.Atoi(args[i+2])
			if err1 != nil || err2 != nil {
				return q, false
			}
			i += 2
		default:
			return q, false // BYLEX and the like: miniredis handles them
		}
	}
	return q, true
}

func (q zrangeQuery) apply(set map[string]float64) []scored {
	all := make([]scored, 0, len(set))
	for m, s := range set {
		all = append(all, scored{m, s})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score < b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.member, b.member)
	})
	if q.rev {
		slices.Reverse(all)
	}
	if !q.byScore {
		start, err1 := strconv.Atoi(q.start)
		end, err2 := strconv.Atoi(q.end)
		if err1 != nil || err2 != nil {
			return nil
		}
		n := len(all)
		if start < 0 {
			start = max(n+start, 0)
		}
		if end < 0 {
			end = n + end
		}
		end = min(end, n-1)
		if start > end {
			return nil
		}
		return all[start : end+1]
	}
	// With REV the first bound is the maximum.
	lo, hi := q.start, q.end
	if q.rev {
		lo, hi = hi, lo
	}
	min, minEx, ok1 := scoreBound(lo)
	max, maxEx, ok2 := scoreBound(hi)
	if !ok1 || !ok2 {
		return nil
	}
	var out []scored
	skipped := 0
	for _, e := range all {
		if e.score < min || (minEx && e.score == min) || e.score > max || (maxEx && e.score == max) {
			continue
		}
		if skipped < q.offset {
			skipped++
			continue
		}
		if q.count >= 0 && len(out) >= q.count {
			break
		}
		out = append(out, e)
	}
	return out
}

func scoreBound(s string) (v float64, exclusive, ok bool) {
	if strings.HasPrefix(s, "(") {
		exclusive, s = true, s[1:]
	}
	switch strings.ToLower(s) {
	case "-inf":
		return math.Inf(-1), exclusive, true
	case "+inf", "inf":
		return math.Inf(1), exclusive, true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, exclusive, err == nil
}
