// Package security implements Celery's message signing (the "auth"
// serializer of celery.security): a body serialized as usual is signed
// with an RSA key (PSS, MGF1, maximum salt length) and packed with the
// signer's certificate id, so that workers holding the signers'
// certificates refuse any message not signed by one of them.
//
// The packed body is base64 of five fields joined by "\x00\x01": base64
// of the signer id ("<issuer attribute values joined by spaces> <serial
// number>"), base64 of the signature, the inner content type, the inner
// content encoding, and the inner body (celery/security/serialization.py).
// Its content type is "application/data".
package security

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	// Hashes Celery's security_digest may name.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// ContentType is the content type of a signed body ("auth").
const ContentType = "application/data"

// ErrSecurity wraps every reason a signed body is refused: unknown or
// expired signer, bad signature, malformed packing. Celery raises
// celery.exceptions.SecurityError for these.
var ErrSecurity = errors.New("security")

var sep = []byte("\x00\x01")

// Digest returns the hash for a security_digest name ("sha256", Celery's
// default; "sha1", "sha384", "sha512").
func Digest(name string) (crypto.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "-", "")) {
	case "", "sha256":
		return crypto.SHA256, nil
	case "sha1":
		return crypto.SHA1, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("security: unsupported digest %q", name)
}

// CertID is Celery's id of a certificate: its issuer's attribute values in
// certificate order, joined by spaces, then the decimal serial number
// (celery/security/certificate.py Certificate.get_id).
func CertID(c *x509.Certificate) string {
	var parts []string
	for _, a := range c.Issuer.Names {
		parts = append(parts, fmt.Sprint(a.Value))
	}
	return strings.Join(parts, " ") + " " + c.SerialNumber.String()
}

// Signer signs bodies with a private key and its certificate
// (security_key, security_certificate).
type Signer struct {
	key  *rsa.PrivateKey
	id   string
	hash crypto.Hash
}

// NewSigner reads a PEM private key (PKCS#1 or PKCS#8, unencrypted) and a
// PEM certificate, which must be RSA as in Celery.
func NewSigner(keyPEM, certPEM []byte, digest string) (*Signer, error) {
	h, err := Digest(digest)
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return nil, fmt.Errorf("security: key: no PEM block")
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, fmt.Errorf("security: key: %w", err)
		}
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("security: key: non-RSA keys are not supported")
	}
	if !rk.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("security: the key does not match the certificate")
	}
	return &Signer{key: rk, id: CertID(cert), hash: h}, nil
}

// LoadSigner is NewSigner reading the two files.
func LoadSigner(keyFile, certFile, digest string) (*Signer, error) {
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	c, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	return NewSigner(k, c, digest)
}

// Sign packs body (serialized in contentType/contentEncoding) with its
// signature, as SecureSerializer.serialize does.
func (s *Signer) Sign(body []byte, contentType, contentEncoding string) ([]byte, error) {
	hh := s.hash.New()
	hh.Write(body)
	sig, err := rsa.SignPSS(rand.Reader, s.key, s.hash, hh.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	if err != nil {
		return nil, fmt.Errorf("security: sign: %w", err)
	}
	b64 := base64.StdEncoding
	fields := bytes.Join([][]byte{
		[]byte(b64.EncodeToString([]byte(s.id))), []byte(b64.EncodeToString(sig)),
		[]byte(contentType), []byte(contentEncoding), body,
	}, sep)
	return []byte(b64.EncodeToString(fields)), nil
}

// Store holds the certificates of trusted signers (security_cert_store).
type Store struct {
	certs map[string]*x509.Certificate
	hash  crypto.Hash
	now   func() time.Time
}

// LoadStore reads every certificate in path: a directory (every file in
// it), a glob pattern or a file, as Celery's FSCertStore. An expired
// certificate or a duplicate id is an error, as in Celery.
func LoadStore(path, digest string) (*Store, error) {
	h, err := Digest(digest)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "*")
	}
	files, err := filepath.Glob(path)
	if err != nil {
		return nil, fmt.Errorf("security: cert store: %w", err)
	}
	st := &Store{certs: map[string]*x509.Certificate{}, hash: h, now: time.Now}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("security: cert store: %w", err)
		}
		if err := st.Add(raw); err != nil {
			return nil, fmt.Errorf("security: cert store %s: %w", f, err)
		}
	}
	if len(st.certs) == 0 {
		return nil, fmt.Errorf("security: cert store %s: no certificates", path)
	}
	return st, nil
}

// Add trusts one more PEM certificate.
func (st *Store) Add(certPEM []byte) error {
	c, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	if st.now().After(c.NotAfter) {
		return fmt.Errorf("%w: expired certificate: %q", ErrSecurity, CertID(c))
	}
	id := CertID(c)
	if _, dup := st.certs[id]; dup {
		return fmt.Errorf("%w: duplicate certificate: %q", ErrSecurity, id)
	}
	st.certs[id] = c
	return nil
}

// Verify unpacks a signed body, checks that a trusted, unexpired
// certificate signed it, and returns the inner body with its content type
// and encoding (SecureSerializer.deserialize). Every failure wraps
// ErrSecurity.
func (st *Store) Verify(packed []byte) (body []byte, contentType, contentEncoding string, err error) {
	raw, err := base64.StdEncoding.DecodeString(string(packed))
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: signed body is not base64", ErrSecurity)
	}
	f := bytes.SplitN(raw, sep, 5)
	if len(f) != 5 {
		return nil, "", "", fmt.Errorf("%w: signed body has %d fields, want 5", ErrSecurity, len(f))
	}
	signer, err1 := base64.StdEncoding.DecodeString(string(f[0]))
	sig, err2 := base64.StdEncoding.DecodeString(string(f[1]))
	if err1 != nil || err2 != nil {
		return nil, "", "", fmt.Errorf("%w: bad signer or signature encoding", ErrSecurity)
	}
	c, ok := st.certs[string(signer)]
	if !ok {
		return nil, "", "", fmt.Errorf("%w: unknown certificate: %q", ErrSecurity, truncate(string(signer), 200))
	}
	if st.now().After(c.NotAfter) {
		return nil, "", "", fmt.Errorf("%w: expired certificate: %q", ErrSecurity, string(signer))
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, "", "", fmt.Errorf("%w: non-RSA certificate", ErrSecurity)
	}
	hh := st.hash.New()
	hh.Write(f[4])
	if err := rsa.VerifyPSS(pub, st.hash, hh.Sum(nil), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
		return nil, "", "", fmt.Errorf("%w: bad signature: %w", ErrSecurity, err)
	}
	return f[4], string(f[2]), string(f[3]), nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return nil, fmt.Errorf("security: certificate: no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("security: certificate: %w", err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("security: certificate: non-RSA certificates are not supported")
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
