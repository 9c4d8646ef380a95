package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// shellWords splits a command line as sh would for the simple lines of
// the docs: whitespace, single and double quotes, a # comment.
func shellWords(line string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '#' && !in:
			return words
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestDocCommands runs every celeriac command line of the README's and
// the quickstart's shell blocks with -h through the real flag parsing: a
// flag that does not exist fails. Commands are written as they run from
// the repository (bin/celeriac, .venv/bin/celery), not as bare names that
// are not on PATH after make run.
func TestDocCommands(t *testing.T) {
	for _, file := range []string{"../../README.md", "../../docs/quickstart.md"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		inSh := false
		for n, line := range strings.Split(string(src), "\n") {
			switch {
			case strings.HasPrefix(line, "```sh"):
				inSh = true
				continue
			case strings.HasPrefix(line, "```"):
				inSh = false
				continue
			case !inSh:
				continue
			}
			words := shellWords(line)
			for i, w := range words { // the first command of a list
				if w == "&" || w == "&&" || w == ";" || w == "|" {
					words = words[:i]
					break
				}
			}
			if len(words) == 0 {
				continue
			}
			where := file + ":" + strconv.Itoa(n+1)
			if words[0] == "celeriac" || words[0] == "celery" {
				t.Errorf("%s: %q is not on PATH after make run; write bin/celeriac or .venv/bin/celery", where, words[0])
			}
			if words[0] != "bin/celeriac" || len(words) < 2 {
				continue
			}
			args := append(append([]string{}, words[1:]...), "-h")
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != 0 {
				t.Errorf("%s: %s -h exits %d: %s", where, strings.Join(words, " "), code, errb.String())
			}
		}
	}
}
