package kombu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// testdata/kombu_compressed.json holds a body compressed by kombu 5.7's
// compression.compress with each method (Python 3.11: zlib, bz2, brotli,
// lzma, backports.zstd).
func TestDecompressKombuOutput(t *testing.T) {
	raw, err := os.ReadFile("testdata/kombu_compressed.json")
	if err != nil {
		t.Fatal(err)
	}
	var fix struct {
		Plain      string
		Compressed map[string]string
	}
	if err := json.Unmarshal(raw, &fix); err != nil {
		t.Fatal(err)
	}
	if len(fix.Compressed) != 5 {
		t.Fatalf("fixture has %d methods", len(fix.Compressed))
	}
	for ct, b64 := range fix.Compressed {
		body, _ := base64.StdEncoding.DecodeString(b64)
		out, err := Decompress(ct, body)
		if err != nil || string(out) != fix.Plain {
			t.Errorf("%s: %q, %v", ct, out, err)
		}
	}
}

func TestCompressRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("celeriac "), 1000)
	for _, name := range []string{"zlib", "gzip", "brotli", "lzma", "xz", "zstd", "zstandard", CompressionZstd} {
		c, err := Compress(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c) >= len(data) {
			t.Errorf("%s: %d bytes not compressed", name, len(c))
		}
		out, err := Decompress(name, c)
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s: round trip: %v", name, err)
		}
	}
	if _, err := Compress("bzip2", data); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("bzip2 compress: %v", err)
	}
	if _, err := Decompress("snappy", data); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("unknown: %v", err)
	}
}

// A small body that inflates past the limit fails with ErrTooLarge after
// reading at most the limit, for every method.
func TestDecompressBomb(t *testing.T) {
	zeros := make([]byte, 8<<20)
	for _, name := range []string{"zlib", "brotli", "lzma", "zstd"} {
		c, err := Compress(name, zeros)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecompressLimit(name, c, 1<<20); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s (%d bytes): err = %v, want ErrTooLarge", name, len(c), err)
		}
		if out, err := DecompressLimit(name, c, 8<<20); err != nil || len(out) != len(zeros) {
			t.Errorf("%s at exactly the limit: %d, %v", name, len(out), err)
		}
	}
}

func TestDecompressGarbage(t *testing.T) {
	for _, name := range []string{"zlib", "bzip2", "brotli", "lzma", "zstd"} {
		if _, err := Decompress(name, []byte("not compressed at all")); err == nil || errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
