package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WithTLS makes the server also listen for TLS (redis-server --tls-port,
// see Server.TLSPort) with the server certificate of ca. With clientAuth
// it requires a client certificate signed by ca (--tls-auth-clients yes).
func WithTLS(ca CA, clientAuth bool) Option {
	return func(c *config) {
		auth := "no"
		if clientAuth {
			auth = "yes"
		}
		c.tls = []string{"--tls-cert-file", ca.ServerCert, "--tls-key-file", ca.ServerKey,
			"--tls-ca-cert-file", ca.CA, "--tls-auth-clients", auth}
	}
}

// CA is a certificate authority made for one test, and the PEM files of
// its certificate and of a server and a client certificate it signed (for
// 127.0.0.1 and localhost), with their keys.
type CA struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// NewCA makes a CA and its certificates in a temporary directory of tb.
func NewCA(tb testing.TB) CA {
	tb.Helper()
	dir := tb.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "celeriac test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca := CA{CA: write("ca.pem", "CERTIFICATE", caDER)}
	ca.ServerCert, ca.ServerKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	ca.ClientCert, ca.ClientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return ca
}
