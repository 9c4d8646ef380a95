package redact

import (
	"testing"
)

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://:secret@h:1/0", "redis://:***@h:1/0"},
		{"redis://user:secret@h:1/0", "redis://user:***@h:1/0"},
		{"redis://secret@h/0", "redis://:***@h/0"}, // kombu: a lone user info is Redis' password
		{"amqp://guest@localhost//", "amqp://guest@localhost//"},
		{"amqp://guest:pw@localhost//", "amqp://guest:***@localhost//"},
		{"amqp://:pw@localhost//", "amqp://:***@localhost//"},
		{"redis://:p@ss@h/0", "redis://:***@h/0"},                                    // '@' in the password
		{"redis://:secret@h:port/0", "redis://:***@h:port/0"},                        // does not parse
		{"redis://:sec ret@h/0", "redis://:***@h/0"},                                 // does not parse
		{"redis://:se?cret@h/0", "redis://:***@h/0"},                                 // does not parse
		{"rediss://h/0?ssl_certfile=/a@b.pem", "rediss://h/0?ssl_certfile=/a@b.pem"}, // no user info
		{"sentinel://:pw1@s1;sentinel://:pw2@s2?master_name=m&sentinel_password=pw3", "sentinel://:***@s1;sentinel://:***@s2?master_name=m&sentinel_password=***"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
