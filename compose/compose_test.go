// Package compose holds the docker-compose deployment (docker-compose.yml,
// Dockerfile) and its checks; it has no Go code of its own.
package compose

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// composeTool returns the command that runs Compose here: `docker compose`
// (v2 plugin) or Debian's `docker-compose` (v1.29). Neither needs a Docker
// engine for `config`.
func composeTool() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil && exec.Command(p, "version").Run() == nil {
		return []string{p}
	}
	return nil
}

// TestComposeConfig validates docker-compose.yml with the Compose tool,
// with and without the python profile. `make test` installs the tool
// (CELERIAC_REQUIRE_COMPOSE=1); elsewhere the test skips without it.
func TestComposeConfig(t *testing.T) {
	tool := composeTool()
	if tool == nil {
		if os.Getenv("CELERIAC_REQUIRE_COMPOSE") != "" {
			t.Fatal("neither `docker compose` nor `docker-compose` works; `make compose-tool` installs Debian's docker-compose")
		}
		t.Skip("no docker compose / docker-compose; `make compose-tool` installs it")
	}
	for _, extra := range [][]string{nil, {"--profile", "python"}} {
		args := append(append(append([]string{}, tool[1:]...), "-f", "docker-compose.yml"), extra...)
		cmd := exec.Command(tool[0], append(args, "config")...)
		cmd.Env = composeEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s config: %v\n%s", strings.Join(append(tool, extra...), " "), err, stderr.String())
		}
		// docker-compose v1 lists profiled services in config too, so
		// check that python-worker carries its profile.
		want := []string{"redis:", "api:", "worker:", "flower:", "condition: service_healthy",
			"python-worker:", "profiles:", "- python"}
		for _, w := range want {
			if !bytes.Contains(out, []byte(w)) {
				t.Errorf("config %v: no %q in\n%s", extra, w, out)
			}
		}
	}
}

// composeEnv is the environment without the variables docker-compose.yml
// interpolates, so the check sees its defaults.
func composeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERIAC_API_TOKEN", "API_PORT",
			"FLOWER_PORT", "REDIS_PORT", "WORKER_CONCURRENCY", "LOGLEVEL":
			continue
		}
		env = append(env, kv)
	}
	return env
}

var (
	commandLine = regexp.MustCompile(`(?m)^\s*command:\s*(\[.*\])\s*$`)
	interpolate = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)
)

// TestComposeCommands parses every celeriac command line in
// docker-compose.yml (they are JSON flow sequences) with the real binary:
// `celeriac <args> -h` exits 0 only if every flag before -h exists.
func TestComposeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	src, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "celeriac")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/celeriac").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var seen []string
	for _, m := range commandLine.FindAllSubmatch(src, -1) {
		var argv []string
		if err := json.Unmarshal(interpolate.ReplaceAll(m[1], []byte("$1")), &argv); err != nil {
			t.Fatalf("command %s: %v", m[1], err)
		}
		if len(argv) == 0 || argv[0] == "celery" || argv[0] == "sh" {
			continue // Flower's and the Python worker's
		}
		seen = append(seen, argv[0])
		out, err := exec.Command(bin, append(argv, "-h")...).CombinedOutput()
		if err != nil {
			t.Errorf("celeriac %s -h: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	if got := strings.Join(seen, ","); got != "serve,worker" {
		t.Errorf("celeriac commands in docker-compose.yml = %q, want serve,worker", got)
	}
	if !bytes.Contains(src, []byte(`"--worker=false"`)) {
		t.Error("the api service must run serve with --worker=false (the worker service runs the tasks)")
	}
	// serve listens on 127.0.0.1:8000 by default, which the port mapping
	// cannot reach from outside the container.
	if !bytes.Contains(src, []byte(`"--addr", "0.0.0.0:8000"`)) {
		t.Error(`the api service must listen on all interfaces explicitly ("--addr", "0.0.0.0:8000")`)
	}
}

// TestDockerfile checks the shape the docs promise: a builder of the Go
// release go.mod builds with (its toolchain line, else its go line; golang
// images do not fetch another toolchain), a static binary, a non-root
// distroless runtime.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"CGO_ENABLED=0",
		"-tags nomsgpack -trimpath -ldflags='-s -w'", // make build's BUILD_FLAGS
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"COPY --from=build",
		"USER nonroot:nonroot",
		`ENTRYPOINT ["/usr/local/bin/celeriac"]`,
	} {
		if !bytes.Contains(src, []byte(w)) {
			t.Errorf("Dockerfile: no %q", w)
		}
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain go(\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		m = regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	}
	if m == nil || !bytes.Contains(src, []byte("FROM golang:"+string(m[1])+" AS build")) {
		t.Errorf("Dockerfile's golang image does not match go.mod's Go release %q", m)
	}
}

// TestComposeVersions: the Python images install the Celery and Flower
// versions the tests run against (integration/requirements.txt), so the
// README's "Flower 2.2, Celery 5.7" holds for docker-compose too.
func TestComposeVersions(t *testing.T) {
	src, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := os.ReadFile("../integration/requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)`).FindAllSubmatch(reqs, -1) {
		pinned[strings.ToLower(string(m[1]))] = string(m[2])
	}
	pins := regexp.MustCompile(`'([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^']+)'`).FindAllSubmatch(src, -1)
	seen := map[string]bool{}
	for _, m := range pins {
		name, ver := strings.ToLower(string(m[1])), string(m[2])
		seen[name] = true
		if pinned[name] != ver {
			t.Errorf("docker-compose.yml installs %s==%s, integration/requirements.txt pins %q", name, ver, pinned[name])
		}
	}
	if !seen["flower"] || !seen["celery"] {
		t.Errorf("docker-compose.yml pins %v; want celery and flower", seen)
	}
	if bytes.Contains(src, []byte("mher/flower")) {
		t.Error("docker-compose.yml uses the mher/flower image, whose tag is not the tested Flower")
	}
}
