package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a throw-away certificate authority for TLS tests: its
// certificate (PEM file Cert) signs the server and client certificates
// that Issue makes.
type CA struct {
	Cert string // PEM file of the CA's certificate

	cert *x509.Certificate
	key  crypto.Signer
	dir  string
}

// NewCA writes a self-signed ECDSA P-256 CA certificate named name,
// valid for a day, into dir (name-ca.pem). Unlike New it returns errors,
// for a TestMain.
func NewCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certtest: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{Organization: []string{"celeriac"}, CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certtest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certtest: %w", err)
	}
	ca := &CA{cert: cert, key: key, dir: dir}
	if ca.Cert, err = writePEM(dir, name+"-ca.pem", "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue writes a certificate for name signed by ca, and its PKCS#8 key,
// into ca's directory (name.pem, name-key.pem). It serves TLS for
// localhost and 127.0.0.1 and authenticates a TLS client, both.
func (ca *CA) Issue(name string) (Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Signer{}, fmt.Errorf("certtest: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{Organization: []string{"celeriac"}, CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Signer{}, fmt.Errorf("certtest: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Signer{}, fmt.Errorf("certtest: %w", err)
	}
	var s Signer
	if s.Cert, err = writePEM(ca.dir, name+".pem", "CERTIFICATE", der); err != nil {
		return Signer{}, err
	}
	if s.Key, err = writePEM(ca.dir, name+"-key.pem", "PRIVATE KEY", kder); err != nil {
		return Signer{}, err
	}
	return s, nil
}

func writePEM(dir, file, typ string, der []byte) (string, error) {
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		return "", fmt.Errorf("certtest: %w", err)
	}
	return p, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
