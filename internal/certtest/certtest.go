// Package certtest makes RSA certificates for message-signing tests
// (Celery's security module takes RSA only).
package certtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Signer is the PEM files of one self-signed RSA certificate and its key.
type Signer struct {
	Key, Cert string
}

// New writes a self-signed RSA-2048 certificate for name (issuer
// "celeriac <name>", organisation then common name) valid until notAfter,
// and its PKCS#8 key, into dir.
func New(tb testing.TB, dir, name string, serial int64, notAfter time.Time) Signer {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	subject := pkix.Name{Organization: []string{"celeriac"}, CommonName: name}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: subject, Issuer: subject,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(file, typ string, b []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	return Signer{Key: write(name+"-key.pem", "PRIVATE KEY", kder), Cert: write(name+".pem", "CERTIFICATE", der)}
}

// Trust copies s's certificate into the certificate store directory dir.
func Trust(tb testing.TB, dir string, s Signer) {
	tb.Helper()
	b, err := os.ReadFile(s.Cert)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, filepath.Base(s.Cert)), b, 0o600)
	}
	if err != nil {
		tb.Fatal(err)
	}
}
