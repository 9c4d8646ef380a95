package amqp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/certtest"
)

// TestParseURL: kombu's schemes, defaults and query options.
func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		raw, url, vhost, host string
		port                  int
		heartbeat, timeout    time.Duration
	}{
		{"amqp://", "amqp://", "/", "localhost", 5672, DefaultHeartbeat, DefaultConnectTimeout},
		{"pyamqp://u:p@h:5673/v", "amqp://u:p@h:5673/v", "v", "h", 5673, DefaultHeartbeat, DefaultConnectTimeout},
		{"amqp://guest:guest@localhost:5672//", "amqp://guest:guest@localhost:5672//", "/", "localhost", 5672, DefaultHeartbeat, DefaultConnectTimeout},
		{"AMQPS://h/v?heartbeat=30", "amqps://h/v", "v", "h", 5671, 30 * time.Second, DefaultConnectTimeout},
		{"amqp://h/%2Fprod?heartbeat=0&connect_timeout=2.5", "amqp://h/%2Fprod", "/prod", "h", 5672, 0, 2500 * time.Millisecond},
		{"amqp://h?heartbeat=10.5", "amqp://h", "/", "h", 5672, 10500 * time.Millisecond, DefaultConnectTimeout},
	} {
		ep, err := ParseURL(c.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.raw, err)
			continue
		}
		if ep.URL != c.url || ep.URI.Vhost != c.vhost || ep.URI.Host != c.host || ep.URI.Port != c.port ||
			ep.Heartbeat != c.heartbeat || ep.ConnectTimeout != c.timeout {
			t.Errorf("ParseURL(%q) = %s vhost %q host %q port %d heartbeat %v timeout %v", c.raw,
				ep.URL, ep.URI.Vhost, ep.URI.Host, ep.URI.Port, ep.Heartbeat, ep.ConnectTimeout)
		}
		if (ep.TLS != nil) != strings.HasPrefix(c.url, "amqps") {
			t.Errorf("ParseURL(%q): TLS %v", c.raw, ep.TLS)
		}
	}
}

// TestParseURLLoginMethod: kombu's login_method picks the SASL mechanism.
func TestParseURLLoginMethod(t *testing.T) {
	for in, want := range map[string]string{"": "", "PLAIN": "PLAIN", "amqplain": "AMQPLAIN", "EXTERNAL": "EXTERNAL"} {
		raw := "amqp://u:p@h/"
		if in != "" {
			raw += "?login_method=" + in
		}
		ep, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if len(ep.SASL) == 1 {
			got = ep.SASL[0].Mechanism()
		}
		if got != want {
			t.Errorf("login_method=%s: mechanism %q, want %q", in, got, want)
		}
	}
}

// TestParseURLErrors: every mistake is an ErrBadURL error naming the
// option, with the password masked.
func TestParseURLErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"h:5672":                                      "no scheme",
		"redis://h":                                   `unsupported scheme "redis"`,
		"amqp://u:secret@h:x/":                        "port",
		"amqp://u:secret@h/?heartbeat=x":              "heartbeat",
		"amqp://h/?heartbeat=-1":                      "heartbeat",
		"amqp://h/?heartbeat=NaN":                     "heartbeat",
		"amqp://h/?connect_timeout=0":                 "connect_timeout",
		"amqp://h/?connect_timeout=1e9":               "connect_timeout",
		"amqp://h/?hearbeat=10":                       `unknown option "hearbeat"`,
		"amqp://h/?heartbeat=1&heartbeat=2":           "given 2 times",
		"amqp://h/?login_method=GSSAPI":               "login_method",
		"amqps://h/?ssl_cert_reqs=maybe":              "ssl_cert_reqs",
		"amqps://h/?ssl_ca_certs=/nonexistent/ca.pem": "ssl_ca_certs",
		"amqps://h/?ssl_certfile=/nonexistent/c.pem":  "go together",
		"amqp://h/?q=%zz":                             "query",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted", raw)
			continue
		}
		if !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseURL(%q): %v; want ErrBadURL mentioning %q, one line, no password", raw, err, want)
		}
	}
	if _, err := NewBroker(" ; "); !errors.Is(err, ErrBadURL) {
		t.Errorf("empty URL list: %v", err)
	}
}

// TestParseURLTLS: the ssl_ options (kombu's names) and amqp091-go's own
// names of the files build the TLS configuration; an ssl_ option turns
// TLS on for amqp:// as in kombu.
func TestParseURLTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := certtest.NewCA(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ParseURL("amqps://h/?ssl_ca_certs=" + ca.Cert + "&ssl_certfile=" + client.Cert + "&ssl_keyfile=" + client.Key + "&ssl_cert_reqs=CERT_REQUIRED")
	if err != nil {
		t.Fatal(err)
	}
	if tc := ep.TLS; tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.InsecureSkipVerify || tc.ServerName != "h" {
		t.Errorf("TLS config: %+v", tc)
	}
	ep, err = ParseURL("amqp://h/?cacertfile=" + ca.Cert + "&certfile=" + client.Cert + "&keyfile=" + client.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ep.URL != "amqps://h/" || ep.URI.Port != 5671 || ep.TLS == nil || len(ep.TLS.Certificates) != 1 {
		t.Errorf("amqp:// with TLS files: %s port %d, %+v", ep.URL, ep.URI.Port, ep.TLS)
	}
	ep, err = ParseURL("amqps://h/?ssl_cert_reqs=none")
	if err != nil || !ep.TLS.InsecureSkipVerify || ep.TLS.VerifyConnection != nil {
		t.Errorf("ssl_cert_reqs=none: %v, %+v", err, ep)
	}
	ep, err = ParseURL("amqps://h/?ssl_check_hostname=False&ssl_ca_certs=" + ca.Cert)
	if err != nil || !ep.TLS.InsecureSkipVerify || ep.TLS.VerifyConnection == nil {
		t.Fatalf("ssl_check_hostname=false: %v, %+v", err, ep)
	}
	// The chain is still checked: a certificate of another CA fails.
	other, err := certtest.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue("stranger")
	if err != nil {
		t.Fatal(err)
	}
	for s, ok := range map[certtest.Signer]bool{client: true, stranger: false} {
		pair, err := tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		leaf := pair.Leaf
		err = ep.TLS.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
		if (err == nil) != ok {
			t.Errorf("%s: verify %v, want ok=%v", s.Cert, err, ok)
		}
	}
}

// TestFailoverURLs: ";" separates failover alternatives, each parsed.
func TestFailoverURLs(t *testing.T) {
	b, err := NewBroker("amqp://a//;amqps://b:5999/v?heartbeat=5 ; pyamqp://c/")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var hosts []string
	for _, ep := range b.alternatives {
		hosts = append(hosts, ep.URI.Host)
	}
	if strings.Join(hosts, ",") != "a,b,c" || b.alternatives[1].Heartbeat != 5*time.Second || b.alternatives[1].URI.Scheme != "amqps" {
		t.Errorf("alternatives: %v", hosts)
	}
	if info := b.Info(); info.Hostname != "a" || info.VirtualHost != "/" || info.SSL {
		t.Errorf("Info: %+v", info)
	}
	if _, err := NewBroker("amqp://a//;redis://b"); !errors.Is(err, ErrBadURL) {
		t.Errorf("a bad alternative: %v", err)
	}
}
