package redact

import (
	"net/url"
	"strings"
)

// URL returns a broker or backend URL fit to print: any password (in
// the user info, or a *password* query parameter) is replaced by "***".
// It works on URLs that do not parse too, where it hides everything
// that could be user info.
func URL(raw string) string { return Mask(raw, "***") }

// Mask is URL with mask in place of "***" (Celery's
// maybe_sanitize_url writes "**"). A Redis URL with a user info but no
// colon (redis://secret@host, which kombu reads as the password) comes out
// as redis://:mask@host; other schemes' lone user names stay
// (amqp://guest@host//).
func Mask(raw, mask string) string {
	parts := strings.Split(raw, ";")
	for i, p := range parts {
		parts[i] = maskPart(p, mask)
	}
	return strings.Join(parts, ";")
}

// loneUserIsPassword reports whether a URL scheme's user info without a
// colon is a password: kombu's Redis transport reads redis://secret@host
// as the default user's password; amqp://guest@host names a user.
func loneUserIsPassword(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "sentinel", "sentinels", "unix", "redis+socket":
		return true
	}
	return false
}

func maskPart(p, mask string) string {
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok {
		return p
	}
	// The user info ends at the last '@' before the path or query that
	// follows the first '@' (what url.Parse does for valid URLs; for
	// invalid ones it may hide a little more than the user info).
	if u, err := url.Parse(p); err != nil || u.User != nil {
		if first := strings.IndexByte(rest, '@'); first >= 0 {
			end := first
		scan:
			for i := first + 1; i < len(rest); i++ {
				switch rest[i] {
				case '@':
					end = i
				case '/', '?', '#':
					break scan
				}
			}
			user, _, hasPw := strings.Cut(rest[:end], ":")
			switch {
			case hasPw:
				rest = user + ":" + mask + rest[end:]
			case loneUserIsPassword(scheme):
				rest = ":" + mask + rest[end:]
			}
			// Otherwise (amqp://guest@host//) a lone user name is no
			// secret and stays.
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		params := strings.Split(rest[q+1:], "&")
		for j, kv := range params {
			if k, _, ok := strings.Cut(kv, "="); ok && strings.Contains(strings.ToLower(k), "password") {
				params[j] = k + "=" + mask
			}
		}
		rest = rest[:q+1] + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}
