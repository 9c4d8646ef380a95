package kombu

import (
	"bytes"
	"compress/bzip2"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// ErrUnsupportedCompression is returned for a compression this build
// cannot decode or encode.
var ErrUnsupportedCompression = errors.New("kombu: unsupported compression")

// ErrTooLarge is returned by DecompressLimit when the decompressed body
// would exceed the limit. Decompression stops at the limit, so a small
// hostile body (a decompression bomb) costs at most limit bytes.
var ErrTooLarge = errors.New("kombu: decompressed body too large")

// MaxDecompressedSize bounds what Decompress inflates, so a small hostile
// body cannot exhaust memory. Redis refuses values above 512 MiB anyway.
const MaxDecompressedSize = 512 << 20

// Compression MIME types kombu registers (kombu/compression.py). The
// `compression` header of a message carries one of them.
const (
	CompressionZlib   = "application/x-gzip" // zlib framing despite the name
	CompressionBzip2  = "application/x-bz2"
	CompressionBrotli = "application/x-brotli"
	CompressionLZMA   = "application/x-lzma" // the .xz container, as Python's lzma.compress
	CompressionZstd   = "application/zstd"
)

// compressionAliases maps the names kombu accepts for each method to its
// MIME type ("bz2" is ours: kombu spells it "bzip2" or "bzip").
var compressionAliases = map[string]string{
	CompressionZlib: CompressionZlib, "gzip": CompressionZlib, "zlib": CompressionZlib,
	CompressionBzip2: CompressionBzip2, "bzip2": CompressionBzip2, "bzip": CompressionBzip2, "bz2": CompressionBzip2,
	CompressionBrotli: CompressionBrotli, "brotli": CompressionBrotli,
	CompressionLZMA: CompressionLZMA, "lzma": CompressionLZMA, "xz": CompressionLZMA,
	CompressionZstd: CompressionZstd, "zstd": CompressionZstd, "zstandard": CompressionZstd,
}

// CompressionType returns the MIME type of a compression given by name,
// alias or MIME type, and whether it is known.
func CompressionType(name string) (string, bool) {
	t, ok := compressionAliases[name]
	return t, ok
}

// CanCompress reports whether Compress can write the named compression.
// Every known method can be read; bzip2 cannot be written (Go's standard
// library has a bzip2 reader only).
func CanCompress(name string) bool {
	t, ok := CompressionType(name)
	return ok && t != CompressionBzip2
}

// Decompress undoes the compression named by a `compression` header value
// (MIME type or alias), inflating at most MaxDecompressedSize bytes.
func Decompress(name string, data []byte) ([]byte, error) {
	return DecompressLimit(name, data, MaxDecompressedSize)
}

// xzMagic starts every .xz stream; anything else given as lzma is read as
// the legacy .lzma ("alone") format, which Python's lzma.decompress also
// accepts.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// DecompressLimit is Decompress with a bound: it streams the output and
// fails with ErrTooLarge as soon as it would exceed limit bytes (limit <=
// 0: MaxDecompressedSize).
func DecompressLimit(name string, data []byte, limit int) ([]byte, error) {
	if limit <= 0 || limit > MaxDecompressedSize {
		limit = MaxDecompressedSize
	}
	t, _ := CompressionType(name)
	src := bytes.NewReader(data)
	var r io.Reader
	switch t {
	case CompressionZlib:
		zr, err := zlib.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("kombu: zlib: %w", err)
		}
		defer zr.Close()
		r = zr
	case CompressionBzip2:
		r = bzip2.NewReader(src)
	case CompressionBrotli:
		r = brotli.NewReader(src)
	case CompressionLZMA:
		var err error
		if bytes.HasPrefix(data, xzMagic) {
			r, err = xz.NewReader(src)
		} else {
			r, err = lzma.NewReader(src)
		}
		if err != nil {
			return nil, fmt.Errorf("kombu: lzma: %w", err)
		}
	case CompressionZstd:
		// One goroutine-free decoder per message, its window bounded by
		// the limit (but at least 8 MiB, zstd's usual window for large
		// inputs) so that a hostile frame header cannot make it allocate
		// more.
		window := uint64(max(limit, 8<<20))
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(min(window, zstd.MaxWindowSize)), zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("kombu: zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedCompression, name)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(out) > limit {
		return nil, fmt.Errorf("%w: %s body inflates past %d bytes", ErrTooLarge, t, limit)
	}
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("%w: %s body inflates past %d bytes (%w)", ErrTooLarge, t, limit, err)
		}
		return nil, fmt.Errorf("kombu: decompress %s: %w", t, err)
	}
	return out, nil
}

// Compress applies the compression named by name (MIME type or alias) as
// kombu's compress does. bzip2 yields ErrUnsupportedCompression.
func Compress(name string, data []byte) ([]byte, error) {
	t, _ := CompressionType(name)
	var buf bytes.Buffer
	var w io.WriteCloser
	switch t {
	case CompressionZlib:
		w = zlib.NewWriter(&buf)
	case CompressionBrotli:
		w = brotli.NewWriter(&buf)
	case CompressionLZMA:
		// Python's lzma.compress writes the .xz container with a CRC64
		// check; ulikunitz/xz defaults to the same.
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			return nil, fmt.Errorf("kombu: lzma: %w", err)
		}
		w = xw
	case CompressionZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("kombu: zstd: %w", err)
		}
		out := enc.EncodeAll(data, nil)
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("kombu: zstd: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedCompression, name)
	}
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("kombu: compress %s: %w", t, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("kombu: compress %s: %w", t, err)
	}
	return buf.Bytes(), nil
}
