package security

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/certtest"
)

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	alice := certtest.New(t, dir, "alice", 7, time.Now().Add(time.Hour))
	certtest.Trust(t, store, alice)
	mallory := certtest.New(t, dir, "mallory", 8, time.Now().Add(time.Hour))
	st, err := LoadStore(store, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	for _, digest := range []string{"sha256", "sha512"} {
		s, err := LoadSigner(alice.Key, alice.Cert, digest)
		if err != nil {
			t.Fatal(err)
		}
		if s.id != "celeriac alice 7" {
			t.Errorf("id = %q", s.id)
		}
		body := []byte(`[[2, 2], {}, {}]`)
		packed, err := s.Sign(body, "application/json", "utf-8")
		if err != nil {
			t.Fatal(err)
		}
		ds, _ := LoadStore(store, digest)
		got, ct, enc, err := ds.Verify(packed)
		if err != nil || !bytes.Equal(got, body) || ct != "application/json" || enc != "utf-8" {
			t.Errorf("%s: Verify = %q %q %q %v", digest, got, ct, enc, err)
		}
		// A body changed after signing fails.
		raw, _ := base64.StdEncoding.DecodeString(string(packed))
		raw[len(raw)-2] = '3'
		if _, _, _, err := ds.Verify([]byte(base64.StdEncoding.EncodeToString(raw))); !errors.Is(err, ErrSecurity) {
			t.Errorf("tampered: %v", err)
		}
	}
	m, err := LoadSigner(mallory.Key, mallory.Cert, "")
	if err != nil {
		t.Fatal(err)
	}
	packed, _ := m.Sign([]byte("{}"), "application/json", "utf-8")
	if _, _, _, err := st.Verify(packed); !errors.Is(err, ErrSecurity) {
		t.Errorf("unknown signer: %v", err)
	}
	for _, bad := range []string{"", "!!", base64.StdEncoding.EncodeToString([]byte("a\x00\x01b"))} {
		if _, _, _, err := st.Verify([]byte(bad)); !errors.Is(err, ErrSecurity) {
			t.Errorf("Verify(%q) = %v", bad, err)
		}
	}
	// Expiry is checked when verifying too.
	st.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	s, _ := LoadSigner(alice.Key, alice.Cert, "")
	packed, _ = s.Sign([]byte("{}"), "application/json", "utf-8")
	if _, _, _, err := st.Verify(packed); !errors.Is(err, ErrSecurity) {
		t.Errorf("expired: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	old := certtest.New(t, dir, "old", 1, time.Now().Add(-time.Hour))
	if _, err := LoadStore(old.Cert, ""); !errors.Is(err, ErrSecurity) {
		t.Errorf("expired cert in store: %v", err)
	}
	if _, err := LoadStore(filepath.Join(dir, "none*"), ""); err == nil {
		t.Error("empty store loaded")
	}
	a := certtest.New(t, dir, "a", 2, time.Now().Add(time.Hour))
	b := certtest.New(t, dir, "b", 3, time.Now().Add(time.Hour))
	if _, err := LoadSigner(a.Key, b.Cert, ""); err == nil {
		t.Error("key of another certificate accepted")
	}
	if _, err := LoadSigner(a.Key, a.Cert, "md5"); err == nil {
		t.Error("md5 accepted")
	}
}
