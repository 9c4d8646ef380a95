package rconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/redact"
)

// KeyPrefixParam is the URL query parameter read into Config.KeyPrefix.
const KeyPrefixParam = "global_keyprefix"

// ErrBadURL is wrapped by every URL parsing error.
var ErrBadURL = errors.New("invalid redis URL")

// Config describes how to reach one Redis server (or a Sentinel-managed
// master).
type Config struct {
	// Network is "tcp" or "unix".
	Network string
	// Addr is host:port, or the socket path for unix.
	Addr     string
	DB       int
	Username string
	Password string
	// TLS is non-nil for rediss://.
	TLS *tls.Config
	// Sentinels lists host:port of Sentinel servers; when non-empty, Addr
	// is resolved through them for MasterName on every dial.
	Sentinels        []string
	MasterName       string
	SentinelPassword string
	// ConnectTimeout bounds dialing; ReadTimeout and WriteTimeout bound
	// ordinary commands (blocking commands set their own).
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	// KeyPrefix is the URL's global_keyprefix query parameter, "" when it
	// has none. kombu takes global_keyprefix only as a transport option
	// (its URL parser rejects unknown query parameters); celeriac also
	// reads it from the URL.
	KeyPrefix string

	raw string
}

// ParseURL parses a broker or result backend URL.
func ParseURL(raw string) (*Config, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadURL, redact.URL(raw), fmt.Sprintf(format, a...))
	}
	c := &Config{Network: "tcp", ConnectTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, raw: raw}
	if strings.HasPrefix(raw, "sentinel://") {
		return parseSentinel(c, raw, bad)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only
		// what it says is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad("%v", err)
	}
	q := u.Query()
	c.KeyPrefix = q.Get(KeyPrefixParam)
	switch u.Scheme {
	case "redis", "rediss":
		host := u.Hostname()
		if host == "" {
			host = "localhost"
		}
		port := u.Port()
		if port == "" {
			port = "6379"
		}
		if _, err := strconv.Atoi(port); err != nil {
			return nil, bad("port %q is not a number", port)
		}
		c.Addr = net.JoinHostPort(host, port)
		if c.DB, err = parseDB(u.Path, q.Get("db")); err != nil {
			return nil, bad("%v", err)
		}
	case "unix", "redis+socket", "socket":
		c.Network = "unix"
		c.Addr = u.Path
		if c.Addr == "" {
			return nil, bad("no socket path")
		}
		db := q.Get("db")
		if db == "" {
			db = q.Get("virtual_host")
		}
		if c.DB, err = parseDB("", db); err != nil {
			return nil, bad("%v", err)
		}
	case "":
		return nil, bad("no scheme (want redis://, rediss://, unix:// or sentinel://)")
	default:
		return nil, bad("unsupported scheme %q (want redis://, rediss://, unix:// or sentinel://)", u.Scheme)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		// redis://:pass@host and redis://pass@host (no user) both mean a
		// password for the default user, as kombu reads them.
		if _, hasPw := u.User.Password(); !hasPw {
			c.Password, c.Username = c.Username, ""
		}
	}
	if u.Scheme == "rediss" {
		if c.TLS, err = tlsConfig(q, u.Hostname()); err != nil {
			return nil, bad("%v", err)
		}
	} else if hasSSLParams(q) {
		return nil, bad("ssl_* parameters need the rediss:// scheme")
	}
	return c, nil
}

func parseSentinel(c *Config, raw string, bad func(string, ...any) error) (*Config, error) {
	for i, part := range strings.Split(raw, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || u.Scheme != "sentinel" {
			return nil, bad("each ;-separated part must be a sentinel:// URL")
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "26379"
		}
		c.Sentinels = append(c.Sentinels, net.JoinHostPort(host, port))
		if u.User != nil {
			pw, ok := u.User.Password()
			if !ok {
				pw = u.User.Username()
			} else {
				c.Username = u.User.Username()
			}
			c.Password = pw
		}
		q := u.Query()
		if mn := q.Get("master_name"); mn != "" {
			c.MasterName = mn
		}
		if sp := q.Get("sentinel_password"); sp != "" {
			c.SentinelPassword = sp
		}
		if kp := q.Get(KeyPrefixParam); kp != "" {
			c.KeyPrefix = kp
		}
		if i == 0 || u.Path != "" {
			if c.DB, err = parseDB(u.Path, q.Get("db")); err != nil {
				return nil, bad("%v", err)
			}
		}
	}
	if len(c.Sentinels) == 0 {
		return nil, bad("no sentinel hosts")
	}
	return c, nil
}

func parseDB(path, query string) (int, error) {
	s := strings.Trim(path, "/")
	if s == "" {
		s = query
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("database %q is not a non-negative number", s)
	}
	return n, nil
}

func hasSSLParams(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "ssl_") {
			return true
		}
	}
	return false
}

func tlsConfig(q url.Values, host string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	// kombu uses CERT_NONE when no ssl options are given.
	reqs := strings.ToLower(strings.TrimPrefix(strings.ToUpper(q.Get("ssl_cert_reqs")), "CERT_"))
	switch reqs {
	case "", "none":
		tc.InsecureSkipVerify = true
	case "optional", "required":
	default:
		return nil, fmt.Errorf("ssl_cert_reqs %q: want required, optional or none", q.Get("ssl_cert_reqs"))
	}
	if ca := q.Get("ssl_ca_certs"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ssl_ca_certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl_ca_certs %s: no certificates", ca)
		}
		tc.RootCAs = pool
	}
	cert, key := q.Get("ssl_certfile"), q.Get("ssl_keyfile")
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("ssl_certfile/ssl_keyfile: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// String returns the URL with any password replaced by "***".
func (c *Config) String() string { return redact.URL(c.raw) }

// Dial opens one connection, selects the DB and authenticates.
func (c *Config) Dial(ctx context.Context) (redis.Conn, error) {
	addr := c.Addr
	if len(c.Sentinels) > 0 {
		var err error
		if addr, err = c.masterAddr(ctx); err != nil {
			return nil, err
		}
	}
	opts := []redis.DialOption{
		redis.DialConnectTimeout(c.ConnectTimeout),
		redis.DialReadTimeout(c.ReadTimeout),
		redis.DialWriteTimeout(c.WriteTimeout),
		redis.DialDatabase(c.DB),
	}
	if c.Password != "" {
		opts = append(opts, redis.DialPassword(c.Password))
	}
	if c.Username != "" {
		opts = append(opts, redis.DialUsername(c.Username))
	}
	if c.TLS != nil {
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(c.TLS))
	}
	conn, err := redis.DialContext(ctx, c.Network, addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("redis dial %s: %w", c, err)
	}
	return conn, nil
}

func (c *Config) masterAddr(ctx context.Context) (string, error) {
	if c.MasterName == "" {
		return "", fmt.Errorf("sentinel %s: master_name is required", c)
	}
	var errs []error
	for _, s := range c.Sentinels {
		opts := []redis.DialOption{redis.DialConnectTimeout(c.ConnectTimeout), redis.DialReadTimeout(c.ConnectTimeout)}
		if c.SentinelPassword != "" {
			opts = append(opts, redis.DialPassword(c.SentinelPassword))
		}
		conn, err := redis.DialContext(ctx, "tcp", s, opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hp, err := redis.Strings(conn.Do("SENTINEL", "get-master-addr-by-name", c.MasterName))
		conn.Close()
		if err != nil || len(hp) != 2 {
			errs = append(errs, fmt.Errorf("sentinel %s: no master %q: %v", s, c.MasterName, err))
			continue
		}
		return net.JoinHostPort(hp[0], hp[1]), nil
	}
	return "", fmt.Errorf("sentinel %s: %w", c, errors.Join(errs...))
}

// NewPool returns a pool over c. maxActive 0 means unlimited.
func NewPool(c *Config, maxIdle, maxActive int) *redis.Pool {
	return &redis.Pool{
		DialContext: c.Dial,
		MaxIdle:     maxIdle,
		MaxActive:   maxActive,
		Wait:        maxActive > 0,
		IdleTimeout: 4 * time.Minute,
		TestOnBorrow: func(conn redis.Conn, lastUsed time.Time) error {
			if time.Since(lastUsed) < time.Minute {
				return nil
			}
			_, err := conn.Do("PING")
			return err
		},
	}
}

// Dedicated opens a connection with pool's dialer that is not part of the
// pool, for a long-lived pub/sub subscription: a pooled connection's Close
// drains replies a reader goroutine may be waiting for, and its read
// timeout would cut an idle subscription. Read such a connection with
// ReceiveWithTimeout(0) and close it (e.g. with context.AfterFunc) to stop.
func Dedicated(ctx context.Context, pool *redis.Pool) (redis.Conn, error) {
	switch {
	case pool.DialContext != nil:
		return pool.DialContext(ctx)
	case pool.Dial != nil:
		return pool.Dial()
	}
	return nil, errors.New("redis pool has no dialer")
}

// PubSub opens a Dedicated connection for a subscription that ctx ends:
// when ctx is done the connection is closed, which unblocks a reader in
// ReceiveWithTimeout(0). Call the returned func when the session is over.
func PubSub(ctx context.Context, pool *redis.Pool) (redis.PubSubConn, func(), error) {
	conn, err := Dedicated(ctx, pool)
	if err != nil {
		return redis.PubSubConn{}, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return redis.PubSubConn{Conn: conn}, func() { stop(); conn.Close() }, nil
}

// IsAuthError reports whether err means the server refused who we are,
// not that it is unreachable: a wrong or missing password or ACL user, a
// user without the needed permissions, or a TLS handshake that failed on
// a certificate. Retrying does not help with these.
func IsAuthError(err error) bool {
	if err == nil {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		s := string(re)
		for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR invalid password", "ERR AUTH", "ERR Client sent AUTH"} {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	var ae tls.AlertError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv) || errors.As(err, &ae) {
		return true
	}
	// A server that requires a client certificate closes the connection
	// after the handshake; Go reports the alert as text.
	return strings.Contains(err.Error(), "tls: certificate required") || strings.Contains(err.Error(), "tls: bad certificate")
}

// ProbeTLS checks, for a rediss:// Config, that the server accepts our
// certificate: it completes a TLS handshake and waits briefly for the
// server's reaction before sending anything. A server that requires a
// client certificate (tls-auth-clients yes) and got none or a wrong one
// answers with an alert, which a command written at once could lose to
// the connection reset that follows. It returns nil for a plain Config,
// a sentinel setup or a server that stays silent.
func (c *Config) ProbeTLS(ctx context.Context, wait time.Duration) error {
	if c.TLS == nil || len(c.Sentinels) > 0 {
		return nil
	}
	d := net.Dialer{Timeout: c.ConnectTimeout}
	raw, err := d.DialContext(ctx, c.Network, c.Addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	conn := tls.Client(raw, c.TLS)
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}
