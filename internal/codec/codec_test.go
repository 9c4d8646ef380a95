package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Bodies written by Python 3.11 with kombu's registrations:
// msgpack.packb(v, use_bin_type=True) and yaml.safe_dump(v).
const (
	pyMsgpack = "gqRhcmdzmgH+zwAAAQAAAAAAyz/4AAAAAAAApmjDqWxsb8QCAP/Aw5CApmt3YXJnc4Kkd2hlbtkgMjAyNC0wNS0wMVQxMjowMDowMy4xMTgwMDArMDA6MDChbtH/fw=="
	pyYAML    = "args:\n- 1\n- -2\n- 1099511627776\n- 1.5\n- \"h\\xE9llo\"\n- !!binary |\n  AP8=\n- null\n- true\n- []\n- {}\nbig: 1180591620717411303424\ndt: 2024-05-01 12:00:03.118000+00:00\nf: 1.0e+20\nkwargs:\n  n: -129\n  when: '2024-05-01T12:00:03.118000+00:00'\ns: 'yes'\n"
)

func pyValue() map[string]any {
	return map[string]any{
		"args":   []any{json.Number("1"), json.Number("-2"), json.Number("1099511627776"), 1.5, "héllo", []byte{0, 0xff}, nil, true, []any{}, map[string]any{}},
		"kwargs": map[string]any{"when": "2024-05-01T12:00:03.118000+00:00", "n": json.Number("-129")},
	}
}

func TestDecodePythonMsgpack(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(pyMsgpack)
	v, err := Decode(Msgpack, raw)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(any(pyValue()), v); d != "" {
		t.Error(d)
	}
	// Go writes the same encodings (keys sorted, where Python keeps
	// insertion order).
	out, err := Encode(Msgpack, v)
	if err != nil || len(out) != len(raw) {
		t.Errorf("Encode = %x, %v\nwant     %x", out, err, raw)
	}
}

func TestDecodePythonYAML(t *testing.T) {
	v, err := Decode(YAML, []byte(pyYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := pyValue()
	want["big"] = json.Number("1180591620717411303424")
	want["dt"] = time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)
	want["f"] = 1e20
	want["s"] = "yes"
	if d := cmp.Diff(any(want), v, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Error(d)
	}
	out, err := Encode(YAML, v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(YAML, out)
	if d := cmp.Diff(v, back, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" || err != nil {
		t.Errorf("round trip %v:\n%s\n%s", err, out, d)
	}
	for _, s := range []string{`"f": 1.0e+20`, `"s": "yes"`, "!!binary"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("encoded YAML lacks %q:\n%s", s, out)
		}
	}
}

// safe_load refuses tags that construct objects; so do we.
func TestYAMLUnsafeTags(t *testing.T) {
	for _, doc := range []string{
		"!!python/object/apply:os.system ['echo hi']",
		"x: !!python/name:os.system\n",
		"- !mytag 1\n",
		"!!set {a, b}\n",
	} {
		if _, err := Decode(YAML, []byte(doc)); !errors.Is(err, ErrSyntax) || !errors.Is(err, errYAMLTag) {
			t.Errorf("%q: err = %v", doc, err)
		}
	}
}

func TestYAMLBillionLaughs(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	if _, err := Decode(YAML, []byte(doc)); err == nil {
		t.Error("billion laughs decoded")
	}
}

func TestMsgpackHostile(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0xc0)
	for name, data := range map[string][]byte{
		"deep":        deep,
		"huge array":  {0xdd, 0xff, 0xff, 0xff, 0xff},
		"huge string": {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"truncated":   {0x82, 0xa1, 'a'},
		"trailing":    {0xc0, 0xc0},
		"ext":         {0xd4, 0x05, 0x00},
		"empty":       {},
	} {
		if _, err := Decode(Msgpack, data); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestEncodeStructsAndTimes(t *testing.T) {
	type point struct {
		X, Y int
	}
	v := map[string]any{"p": point{1, 2}, "t": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "n": map[string]int{"a": 1}}
	for _, ct := range []string{JSON, Msgpack, YAML} {
		raw, err := Encode(ct, v)
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		back, err := Decode(ct, raw)
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		m := back.(map[string]any)
		if p := m["p"].(map[string]any); p["X"] != json.Number("1") || p["Y"] != json.Number("2") {
			t.Errorf("%s: p = %#v", ct, p)
		}
		if m["n"].(map[string]any)["a"] != json.Number("1") {
			t.Errorf("%s: n = %#v", ct, m["n"])
		}
		switch tm := m["t"].(type) {
		case time.Time:
			if !tm.Equal(v["t"].(time.Time)) {
				t.Errorf("%s: t = %v", ct, tm)
			}
		case string: // msgpack: isoformat text, as kombu has no datetime type
			if ct != Msgpack || tm != "2024-01-02T03:04:05+00:00" {
				t.Errorf("%s: t = %q", ct, tm)
			}
		}
	}
}

func TestAccept(t *testing.T) {
	var zero Accept
	if !zero.Allows(JSON) || !zero.Allows("") || zero.Allows(Msgpack) {
		t.Error("zero Accept must be JSON only")
	}
	a, err := ParseAccept([]string{"json", "application/x-msgpack", "yaml"})
	if err != nil || !a.Allows(Msgpack) || !a.Allows(YAML) || a.Allows(Pickle) {
		t.Errorf("ParseAccept: %v %v", a.Names(), err)
	}
	for _, bad := range [][]string{{"pickle"}, {"bson"}, {}} {
		if _, err := ParseAccept(bad); err == nil {
			t.Errorf("ParseAccept(%q) accepted", bad)
		}
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]string{`{"status": "SUCCESS"}`: JSON, "\x85\xa6status": Msgpack, "\xde\x00\x10": Msgpack, "status: SUCCESS\n": YAML, "\"status\": SUCCESS\n": YAML, "": JSON} {
		if got := Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %s, want %s", in, got, want)
		}
	}
}
