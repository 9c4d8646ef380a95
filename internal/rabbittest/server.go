// Package rabbittest runs a throw-away RabbitMQ node for tests.
//
// The node is Debian's rabbitmq-server (3.x) started as a private node:
// its own node name, its AMQP listener on a free loopback port, its own
// epmd on a free port (so that no epmd or node already on the machine,
// on 4369/25672, can change a result), its Erlang distribution on a free
// port, no plugins, and its database, logs, feature flags, config and
// Erlang cookie in a temporary directory. Started as root, the node runs
// as the rabbitmq user, who owns that directory.
//
// A node takes about 20 s to boot, so a package shares one from its
// TestMain:
//
//	func TestMain(m *testing.M) {
//		node, err := rabbittest.New()
//		if err != nil { ... }
//		code := m.Run()
//		node.Close()
//		os.Exit(code)
//	}
//
// and each test takes a virtual host of its own (Node.VHost), so that
// tests never see each other's queues.
//
// When rabbitmq-server is not installed, New returns an error wrapping
// ErrNoRabbitMQ; a TestMain skips the package then, unless
// CELERIAC_REQUIRE_RABBITMQ=1 or CI=true, where it fails.
package rabbittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/certtest"
)

// Environment variables understood by this package.
const (
	// EnvRequire, when "1" or "true", makes a missing rabbitmq-server a
	// failure rather than a skip (see Required). CI=true does the same.
	EnvRequire = "CELERIAC_REQUIRE_RABBITMQ"
	// EnvBinDir names the directory holding rabbitmq-server and
	// rabbitmqctl, instead of Debian's /usr/lib/rabbitmq/bin.
	EnvBinDir = "CELERIAC_RABBITMQ_BIN"
)

// ErrNoRabbitMQ is wrapped by New's error when rabbitmq-server or epmd
// is not installed.
var ErrNoRabbitMQ = errors.New("rabbittest: rabbitmq-server not found (install Debian's rabbitmq-server, or set " + EnvBinDir + ")")

const (
	bootTimeout = 90 * time.Second // until the AMQP port answers
	stopTimeout = 30 * time.Second // rabbitmqctl stop, then SIGKILL
)

// Node is a running private RabbitMQ node.
type Node struct {
	dir      string
	bin      string
	name     string // node name, name@localhost
	port     int    // AMQP
	epmdPort int
	tlsPort  int       // AMQPS, with WithTLS
	tls      *TLSFiles // with WithTLS
	cred     *syscall.Credential
	env      []string

	mu     sync.Mutex
	server *exec.Cmd
	// serverDone receives the server's exit once.
	serverDone chan error
	epmd       *exec.Cmd
	vhosts     int
	stopped    bool
}

// Required reports whether a missing rabbitmq-server should fail the tests.
func Required() bool {
	v := os.Getenv(EnvRequire)
	return v == "1" || v == "true" || os.Getenv("CI") == "true"
}

// Option configures New.
type Option func(*Node)

// WithTLS adds an AMQPS listener on another free loopback port (TLSPort),
// with certificates of a certificate authority made for the node: the
// listener requires a client certificate signed by it (verify_peer,
// fail_if_no_peer_cert). TLS returns the files a client needs.
func WithTLS() Option { return func(n *Node) { n.tls = &TLSFiles{} } }

// TLSFiles are the PEM files of a node made WithTLS, for its clients.
type TLSFiles struct {
	CA         string // the authority's certificate, that signs the server's
	ClientCert string // a client certificate the node accepts (CN "client")
	ClientKey  string // its key
}

// New starts a node and waits until its AMQP port answers.
func New(opts ...Option) (*Node, error) {
	bin := os.Getenv(EnvBinDir)
	if bin == "" {
		bin = "/usr/lib/rabbitmq/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "rabbitmq-server")); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRabbitMQ, err)
	}
	if _, err := exec.LookPath("epmd"); err != nil {
		return nil, fmt.Errorf("%w: epmd: %w", ErrNoRabbitMQ, err)
	}
	dir, err := os.MkdirTemp("", "celeriac-rabbit-")
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	n := &Node{dir: dir, bin: bin, name: "celeriac" + randHex(4) + "@localhost"}
	for _, o := range opts {
		o(n)
	}
	if err := n.prepare(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := n.start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// prepare writes the node's files and picks its ports.
func (n *Node) prepare() error {
	ports := make([]int, 4)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	n.port, n.epmdPort = ports[0], ports[1]
	distPort := ports[2]
	conf := "disk_free_limit.absolute = 1MB\nlog.console = false\nlog.file.level = info\n"
	if n.tls != nil {
		n.tlsPort = ports[3]
		tc, err := n.makeCerts()
		if err != nil {
			return err
		}
		conf += tc
	}
	files := map[string]string{
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "",
		// A test machine's disk may be nearly full: RabbitMQ's default
		// free-disk alarm (50 MB) would block publishers.
		"rabbitmq.conf":  conf,
		".erlang.cookie": randHex(16),
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if name == ".erlang.cookie" {
			mode = 0o400
		}
		if err := os.WriteFile(filepath.Join(n.dir, name), []byte(content), mode); err != nil {
			return fmt.Errorf("rabbittest: %w", err)
		}
	}
	for _, d := range []string{"mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(n.dir, d), 0o755); err != nil {
			return fmt.Errorf("rabbittest: %w", err)
		}
	}
	if err := os.Chmod(n.dir, 0o755); err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	n.env = []string{
		"HOME=" + n.dir, // the Erlang cookie
		"ERL_EPMD_PORT=" + strconv.Itoa(n.epmdPort),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(distPort),
		"RABBITMQ_NODENAME=" + n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(n.port),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(n.dir, "log"),
		"RABBITMQ_FEATURE_FLAGS_FILE=" + filepath.Join(n.dir, "feature_flags"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(n.dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(n.dir, "rabbitmq"),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(n.dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE=" + filepath.Join(n.dir, "pid"),
		// The start script then execs the Erlang VM (with -noinput)
		// instead of running it as its child: the VM is the process
		// started here, which the kernel kills if the test binary dies
		// (Pdeathsig), so a crashed test leaves no node behind.
		"RUNNING_UNDER_SYSTEMD=1",
		"PATH=" + os.Getenv("PATH"),
		"LANG=C.UTF-8",
	}
	// As root, the node runs as the rabbitmq user (as Debian's wrapper
	// does), owning its directory.
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("rabbitmq"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			n.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
			err := filepath.WalkDir(n.dir, func(p string, _ os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				return os.Lchown(p, uid, gid)
			})
			if err != nil {
				return fmt.Errorf("rabbittest: %w", err)
			}
		}
	}
	return nil
}

// start runs epmd and the node, and waits for the AMQP port.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	logf, err := os.Create(filepath.Join(n.dir, "console.log"))
	if err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	defer logf.Close()
	epmd := exec.Command("epmd", "-port", strconv.Itoa(n.epmdPort), "-address", "127.0.0.1")
	epmd.Stdout, epmd.Stderr = logf, logf
	epmd.SysProcAttr = sysProcAttr(nil)
	if err := epmd.Start(); err != nil {
		return fmt.Errorf("rabbittest: epmd: %w", err)
	}
	n.epmd = epmd
	if err := waitPort(n.epmdPort, 10*time.Second); err != nil {
		return fmt.Errorf("rabbittest: epmd on port %d: %w", n.epmdPort, err)
	}
	return n.boot(logf)
}

// boot starts rabbitmq-server and waits until its AMQP port answers.
func (n *Node) boot(logf *os.File) error {
	srv := exec.Command(filepath.Join(n.bin, "rabbitmq-server"))
	srv.Dir = n.dir
	srv.Env = n.env
	srv.Stdout, srv.Stderr = logf, logf
	srv.SysProcAttr = sysProcAttr(n.cred)
	if err := srv.Start(); err != nil {
		return fmt.Errorf("rabbittest: rabbitmq-server: %w", err)
	}
	n.server = srv
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	deadline := time.Now().Add(bootTimeout)
	for {
		if amqpAnswers(n.port) {
			// The node answers; keep the waiter for Close.
			n.serverDone = exited
			return nil
		}
		select {
		case err := <-exited:
			n.server = nil
			return fmt.Errorf("rabbittest: rabbitmq-server exited during boot (%v): %s", err, n.tailLocked())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.serverDone = exited
			return fmt.Errorf("rabbittest: rabbitmq-server did not answer on port %d within %v: %s", n.port, bootTimeout, n.tailLocked())
		}
	}
}

// amqpAnswers reports whether the AMQP listener answers a protocol
// header with the server's Connection.Start (a method frame).
func amqpAnswers(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return false
	}
	b := make([]byte, 1)
	_, err = c.Read(b)
	return err == nil && b[0] == 1
}

func waitPort(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the node (rabbitmqctl stop, then SIGKILL) and keeps its
// data: durable queues and persistent messages survive until Start.
// Connections to it are closed by the node as it stops.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("rabbittest: the node is closed")
	}
	n.stopServerLocked()
	return nil
}

// Start starts a node that Stop stopped, on the same ports and data, and
// waits until its AMQP port answers.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("rabbittest: the node is closed")
	}
	if n.server != nil {
		return errors.New("rabbittest: the node is running")
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	defer logf.Close()
	return n.boot(logf)
}

// stopServerLocked stops rabbitmq-server, if it runs.
func (n *Node) stopServerLocked() {
	if n.server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	cmd := exec.CommandContext(ctx, filepath.Join(n.bin, "rabbitmqctl"), "-n", n.name, "stop")
	cmd.Env, cmd.Dir = n.env, n.dir
	cmd.Run()
	cancel()
	select {
	case <-n.serverDone:
	case <-time.After(stopTimeout):
		syscall.Kill(-n.server.Process.Pid, syscall.SIGKILL)
		<-n.serverDone
	}
	// Whatever the node left in its process group.
	syscall.Kill(-n.server.Process.Pid, syscall.SIGKILL)
	n.server, n.serverDone = nil, nil
}

// TLSPort is the node's AMQPS port on 127.0.0.1 (0 without WithTLS).
func (n *Node) TLSPort() int { return n.tlsPort }

// TLS returns the files a client of the AMQPS listener needs (nil
// without WithTLS).
func (n *Node) TLS() *TLSFiles { return n.tls }

// TLSURL returns the amqps:// URL of vhost on the AMQPS listener, as
// guest, with the client certificate and the CA in kombu's ssl_ options.
func (n *Node) TLSURL(vhost string) string {
	u := "amqps://guest:guest@127.0.0.1:" + strconv.Itoa(n.tlsPort) + "/"
	if vhost != "" && vhost != "/" {
		u += vhost
	}
	return u + "?ssl_ca_certs=" + n.tls.CA + "&ssl_certfile=" + n.tls.ClientCert + "&ssl_keyfile=" + n.tls.ClientKey
}

// makeCerts writes a CA, the server's certificate and a client's into
// the node's directory and returns the lines of rabbitmq.conf that make
// the AMQPS listener.
func (n *Node) makeCerts() (string, error) {
	ca, err := certtest.NewCA(n.dir, "rabbittest")
	if err != nil {
		return "", err
	}
	server, err := ca.Issue("server")
	if err != nil {
		return "", err
	}
	client, err := ca.Issue("client")
	if err != nil {
		return "", err
	}
	*n.tls = TLSFiles{CA: ca.Cert, ClientCert: client.Cert, ClientKey: client.Key}
	return fmt.Sprintf("listeners.ssl.default = 127.0.0.1:%d\n"+
		"ssl_options.cacertfile = %s\nssl_options.certfile = %s\nssl_options.keyfile = %s\n"+
		"ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n",
		n.tlsPort, ca.Cert, server.Cert, server.Key), nil
}

// Port is the node's AMQP port on 127.0.0.1.
func (n *Node) Port() int { return n.port }

// URL returns the amqp:// URL of vhost ("" or "/" for the default
// vhost), as guest (allowed from loopback).
func (n *Node) URL(vhost string) string {
	u := "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(n.port) + "/"
	if vhost != "" && vhost != "/" {
		u += vhost
	}
	return u
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (n *Node) Ctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(n.bin, "rabbitmqctl"), append([]string{"-n", n.name}, args...)...)
	cmd.Env = n.env
	cmd.Dir = n.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbittest: rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// VHost creates a virtual host of its own for tb, with all permissions
// for guest, deletes it when tb ends, and returns the URL that reaches it.
func (n *Node) VHost(tb testing.TB) string {
	tb.Helper()
	n.mu.Lock()
	n.vhosts++
	name := fmt.Sprintf("t%d-%s", n.vhosts, randHex(3))
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.Ctl(ctx, "add_vhost", name); err != nil {
		tb.Fatal(err)
	}
	if _, err := n.Ctl(ctx, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.Ctl(ctx, "delete_vhost", name)
	})
	return n.URL(name)
}

// Log returns the end of the node's log, for a failing test's output.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tailLocked()
}

func (n *Node) tailLocked() string {
	var b strings.Builder
	for _, f := range []string{"console.log", filepath.Join("log", n.name+".log")} {
		data, err := os.ReadFile(filepath.Join(n.dir, f))
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s ---\n%s", f, data)
	}
	return b.String()
}

// Close stops the node (rabbitmqctl stop, then SIGKILL), stops its epmd
// and removes its directory.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	n.stopServerLocked()
	if n.epmd != nil {
		n.epmd.Process.Kill()
		n.epmd.Wait()
	}
	return os.RemoveAll(n.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("rabbittest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
