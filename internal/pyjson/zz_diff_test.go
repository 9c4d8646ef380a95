package pyjson

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Temporary differential harness (deleted before hand-off).
func TestZZDiff(t *testing.T) {
	in := os.Getenv("PYJSON_DIFF_IN")
	if in == "" {
		t.Skip()
	}
	var inputs [][]byte
	for _, dir := range strings.Split(os.Getenv("PYJSON_DIFF_CORPUS"), ",") {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			data, _ := os.ReadFile(dir + "/" + e.Name())
			lines := strings.Split(string(data), "\n")
			lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
			s, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatal(err, lit)
			}
			inputs = append(inputs, []byte(s))
		}
	}
	f, _ := os.Open(in)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		b, _ := hex.DecodeString(sc.Text())
		inputs = append(inputs, b)
	}
	out, _ := os.Create(os.Getenv("PYJSON_DIFF_OUT"))
	defer out.Close()
	for _, b := range inputs {
		fmt.Fprint(out, hex.EncodeToString(b), " ")
		v, err := Decode(b)
		if err != nil {
			fmt.Fprintln(out, "ERR")
			continue
		}
		fmt.Fprintln(out, strconv.Quote(PyRepr(v)))
		_ = strings.TrimSpace
	}
}

func TestZZSafeDiff(t *testing.T) {
	in := os.Getenv("PYJSON_SAFE_IN")
	if in == "" {
		t.Skip()
	}
	f, _ := os.Open(in)
	defer f.Close()
	out, _ := os.Create(os.Getenv("PYJSON_SAFE_OUT"))
	defer out.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		ml, _ := strconv.Atoi(parts[0])
		lv, _ := strconv.Atoi(parts[1])
		b, _ := hex.DecodeString(parts[2])
		v, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if parts[3] == "enc" {
			e, err := Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(out, strconv.Quote(string(e)))
		} else if parts[3] == "args" {
			fmt.Fprintln(out, strconv.Quote(SafeRepr(pyTuple(v.([]any)), ml, lv)))
		} else {
			fmt.Fprintln(out, strconv.Quote(SafeRepr(v, ml, lv)))
		}
	}
}
