package amqp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/internal/redact"
)

// ErrBadURL is wrapped by every error about a broker URL that cannot be
// used as written (scheme, host, port, query options): retrying cannot
// help, the URL must change.
var ErrBadURL = errors.New("invalid AMQP broker URL")

// Defaults of the URL options, Celery's worker settings.
const (
	// DefaultHeartbeat is Celery's broker_heartbeat (120 s); RabbitMQ
	// proposes 60 s and the smaller one wins.
	DefaultHeartbeat = 120 * time.Second
	// DefaultConnectTimeout is Celery's broker_connection_timeout (4 s).
	DefaultConnectTimeout = 4 * time.Second
)

// Endpoint is one broker URL, parsed as kombu parses the URL of its
// py-amqp transport: amqp://, pyamqp:// or amqps://, then
// user:password@host:port/vhost (kombu's defaults
// guest:guest@localhost:5672, vhost "/"; 5671 with TLS), then query
// options, each one of kombu's Connection arguments:
//
//	heartbeat=N         seconds between heartbeats (decimals allowed); 0
//	                    leaves the interval to the server (RabbitMQ: 60 s)
//	connect_timeout=N   seconds to connect, TLS and AMQP handshakes included
//	login_method=M      PLAIN, AMQPLAIN or EXTERNAL (the client certificate's
//	                    subject, with RabbitMQ's rabbitmq_auth_mechanism_ssl)
//	ssl_ca_certs=FILE   PEM certificates that sign the server's
//	ssl_certfile=FILE   the client certificate (PEM)
//	ssl_keyfile=FILE    its private key (PEM)
//	ssl_cert_reqs=R     required (default), optional or none (no check:
//	                    anyone in the middle can read everything)
//	ssl_check_hostname=false  check the server's chain but not its name
//
// An ssl_ option on amqp:// turns TLS on, as in kombu. amqp091-go's own
// names of the TLS files (cacertfile, certfile, keyfile) are accepted
// too. Anything else is an error (kombu refuses unknown arguments too).
type Endpoint struct {
	// URL is what amqp091-go dials: scheme amqp or amqps, no query.
	URL string
	// URI is URL, parsed.
	URI amqp.URI
	// Heartbeat asked of the server; under a second leaves it to the
	// server.
	Heartbeat time.Duration
	// ConnectTimeout bounds the dial and the handshakes.
	ConnectTimeout time.Duration
	// TLS is the client's TLS configuration, nil for plain TCP.
	TLS *tls.Config
	// SASL is the login method (nil: amqp091-go's default, PLAIN).
	SASL []amqp.Authentication
}

// urlOptions are the query options ParseURL takes.
var urlOptions = []string{"heartbeat", "connect_timeout", "login_method",
	"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname",
	"cacertfile", "certfile", "keyfile"}

// ParseURL parses one amqp://, pyamqp:// or amqps:// URL (see Endpoint).
// Its errors wrap ErrBadURL and mask the password.
func ParseURL(raw string) (*Endpoint, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadURL, redact.URL(raw), fmt.Sprintf(format, a...))
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, bad("no scheme (want amqp://, pyamqp:// or amqps://)")
	}
	secure := false
	switch strings.ToLower(scheme) {
	case "amqp", "pyamqp":
	case "amqps":
		secure = true
	default:
		return nil, bad("unsupported scheme %q (want amqp://, pyamqp:// or amqps://)", scheme)
	}
	rest, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, bad("query: %v", err)
	}
	for k, v := range q {
		if !slices.Contains(urlOptions, k) {
			return nil, bad("unknown option %q (known: %s)", k, strings.Join(urlOptions, ", "))
		}
		if len(v) > 1 {
			return nil, bad("option %q given %d times", k, len(v))
		}
		if strings.HasPrefix(k, "ssl_") || strings.HasSuffix(k, "file") {
			secure = true
		}
	}
	ep := &Endpoint{Heartbeat: DefaultHeartbeat, ConnectTimeout: DefaultConnectTimeout}
	ep.URL = "amqp://" + rest
	if secure {
		ep.URL = "amqps://" + rest
	}
	if _, err := url.Parse(ep.URL); err != nil {
		// Its own message, without the URL (and its password).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad("%v", err)
	}
	if ep.URI, err = amqp.ParseURI(ep.URL); err != nil {
		return nil, bad("%v", err)
	}
	if q.Has("heartbeat") {
		if ep.Heartbeat, err = seconds(q.Get("heartbeat"), true); err != nil {
			return nil, bad("heartbeat: %v", err)
		}
	}
	if q.Has("connect_timeout") {
		if ep.ConnectTimeout, err = seconds(q.Get("connect_timeout"), false); err != nil {
			return nil, bad("connect_timeout: %v", err)
		}
	}
	if q.Has("login_method") {
		switch m := strings.ToUpper(q.Get("login_method")); m {
		case "PLAIN":
			ep.SASL = []amqp.Authentication{ep.URI.PlainAuth()}
		case "AMQPLAIN":
			ep.SASL = []amqp.Authentication{ep.URI.AMQPlainAuth()}
		case "EXTERNAL":
			ep.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
		default:
			return nil, bad("login_method %q: want PLAIN, AMQPLAIN or EXTERNAL", q.Get("login_method"))
		}
	}
	if secure {
		if ep.TLS, err = tlsConfig(q, ep.URI.Host); err != nil {
			return nil, bad("%v", err)
		}
	}
	return ep, nil
}

// seconds parses a number of seconds, as kombu's float(); zero only when
// zeroOK.
func seconds(s string, zeroOK bool) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || f != f: // NaN
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	case f < 0 || f > 1e6:
		return 0, fmt.Errorf("%q is out of range (0 to 1e6 seconds)", s)
	case f == 0 && !zeroOK:
		return 0, fmt.Errorf("%q: must be more than 0", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// tlsConfig builds the client's TLS configuration from the ssl_ options
// (or amqp091-go's names of the files).
func tlsConfig(q url.Values, host string) (*tls.Config, error) {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := q.Get(k); v != "" {
				return v
			}
		}
		return ""
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if ca := first("ssl_ca_certs", "cacertfile"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ssl_ca_certs: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl_ca_certs %s: no PEM certificate in it", ca)
		}
	}
	cert, key := first("ssl_certfile", "certfile"), first("ssl_keyfile", "keyfile")
	if (cert == "") != (key == "") {
		return nil, errors.New("ssl_certfile and ssl_keyfile go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("ssl_certfile/ssl_keyfile: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	checkHost := true
	if q.Has("ssl_check_hostname") {
		// kombu: anything but "false" (any case) is true.
		checkHost = strings.ToLower(q.Get("ssl_check_hostname")) != "false"
	}
	switch r := strings.ToLower(strings.TrimPrefix(strings.ToUpper(q.Get("ssl_cert_reqs")), "CERT_")); r {
	case "", "required", "optional":
		if !checkHost {
			// Check the chain, not the name: Go checks both or neither.
			tc.InsecureSkipVerify = true
			tc.VerifyConnection = verifyChain(tc.RootCAs)
		}
	case "none":
		tc.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("ssl_cert_reqs %q: want required, optional or none", q.Get("ssl_cert_reqs"))
	}
	return tc, nil
}

// verifyChain checks the server's certificate chain against roots (the
// system's when nil), whatever name it was issued to.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("amqp: the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}

// splitURLs parses the ";"-separated failover URLs of raw.
func splitURLs(raw string) ([]*Endpoint, error) {
	var out []*Endpoint
	for _, u := range strings.Split(raw, ";") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		ep, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty broker URL", ErrBadURL)
	}
	return out, nil
}
