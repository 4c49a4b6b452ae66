// Package redistest runs real redis-server processes for tests: each on a
// free loopback port, without persistence unless asked, in its own
// temporary directory, and stopped when the test (or the test binary)
// ends. Faults are real too: Kill (SIGKILL), Pause and Resume (SIGSTOP,
// SIGCONT) and Restart (on the same port and directory, so an append-only
// file is read back).
//
// When redis-server is not installed, Start skips the test, unless the CI
// environment variable is set: CI installs it (.ci/run), so there a
// missing server is a failure, never a silent skip.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure a server.
type Options struct {
	// AOF turns on the append-only file with appendfsync always, so a
	// restart after Kill finds every acknowledged write.
	AOF bool
	// Password sets requirepass.
	Password string
	// Args are more redis-server arguments, e.g. "--maxmemory-policy",
	// "allkeys-lru".
	Args []string
	// Port, when set, is the port to listen on; otherwise a free one
	// is picked.
	Port int
}

// Server is one redis-server process.
type Server struct {
	// Addr is host:port, Port the port.
	Addr string
	Port int

	opts Options
	dir  string
	bin  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// FreePort is a loopback TCP port nothing listens on now.
func FreePort() int { return freePort() }

// Available reports whether redis-server can be run here.
func Available() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// Require skips t when redis-server is not installed and CI is not set,
// and fails it when CI is set.
func Require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("redis-server is not installed, and CI is set: .ci/run installs it (apt-get install -y redis-server)")
	}
	t.Skip("redis-server is not installed (apt-get install -y redis-server); skipping the tests that need a real Redis")
}

// Start runs a server for t and stops it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s, err := StartIn(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// StartIn runs a server with its files in dir, for a TestMain that
// shares one server among tests; the caller must Close it. It fails when
// redis-server is not installed (call Available first).
func StartIn(dir string, opts Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed: %w", err)
	}
	s := &Server{opts: opts, dir: dir, bin: bin}
	// A free port may be taken by someone else before the server binds
	// it: try a few.
	for range 5 {
		s.Port = opts.Port
		if s.Port == 0 {
			s.Port = freePort()
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the server's redis:// URL (with the password, when one is set).
func (s *Server) URL() string {
	if s.opts.Password != "" {
		return "redis://:" + s.opts.Password + "@" + s.Addr + "/0"
	}
	return "redis://" + s.Addr + "/0"
}

func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--daemonize", "no",
		"--logfile", "", "--protected-mode", "no",
	}
	if s.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	args = append(args, s.opts.Args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, logf
	s.mu.Unlock()
	if err := s.waitReady(done, 10*time.Second); err != nil {
		s.Kill()
		return fmt.Errorf("redis-server on port %d: %w\n%s", s.Port, err, s.Log())
	}
	return nil
}

// waitReady polls with PING until the server answers PONG (not LOADING).
func (s *Server) waitReady(done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-done:
			return errors.New("exited before it was ready")
		default:
		}
		reply, err := s.Do("PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v %q", timeout, err, reply)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Do sends one command on a new connection and returns its reply as
// text: a status or bulk string, an integer, or the elements of an array
// joined by newlines. An error reply is an error.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	write := func(a []string) {
		fmt.Fprintf(&b, "*%d\r\n", len(a))
		for _, x := range a {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(x), x)
		}
	}
	if s.opts.Password != "" {
		write([]string{"AUTH", s.opts.Password})
	}
	write(args)
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	if s.opts.Password != "" {
		if _, err := readReply(r); err != nil {
			return "", err
		}
	}
	return readReply(r)
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Kill ends the server with SIGKILL and waits until it is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done, logf := s.cmd, s.done, s.log
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused server dies too
	cmd.Process.Kill()
	<-done
	logf.Close()
}

// Pause stops the server with SIGSTOP: connections stay open and
// commands go unanswered, as with a hung server.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Restart starts the server again on the same port and directory (after
// Kill), and waits until it answers.
func (s *Server) Restart() error {
	s.Kill()
	var err error
	// The port was just released; another process may bind it in the
	// meantime, but on loopback in a test that is rare: retry briefly.
	for i := 0; i < 20; i++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Close stops the server (SIGKILL: nothing of a test server is kept).
func (s *Server) Close() { s.Kill() }

// Log is what the server wrote to its log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// CommandStat is one line of INFO commandstats.
type CommandStat struct {
	Calls       int64
	Usec        int64
	UsecPerCall float64
}

// CommandStats reads INFO commandstats, keyed by command name in lower
// case ("evalsha", "eval", "hget").
func (s *Server) CommandStats() (map[string]CommandStat, error) {
	info, err := s.Do("INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	stats := make(map[string]CommandStat)
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st CommandStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				st.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				st.Usec, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				st.UsecPerCall, _ = strconv.ParseFloat(v, 64)
			}
		}
		stats[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return stats, nil
}

// WaitReady waits until the server answers PING with PONG (a restarted
// server answers LOADING while it reads its append-only file).
func (s *Server) WaitReady(ctx context.Context) error {
	for {
		if r, err := s.Do("PING"); err == nil && r == "PONG" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
