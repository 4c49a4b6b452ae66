// Package e2e runs the gateway as its users do: a caddy binary built with
// xcaddy, started on Caddyfile.example, spoken to over HTTP and HTTPS.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// caddyBin is the binary built once for the package's tests.
var caddyBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "llm-gateway-e2e-")
	if err != nil {
		panic(err)
	}
	caddyBin, err = buildCaddy(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCaddy builds caddy with the gateway through build.sh, exactly as
// the README tells users to.
func buildCaddy(dir string) (string, error) {
	bin := filepath.Join(dir, "caddy")
	out, err := exec.Command("../build.sh", bin).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build.sh failed: %v\n%s", err, out)
	}
	return bin, nil
}

// gateway is a running caddy on Caddyfile.example.
type gateway struct {
	cmd     *exec.Cmd
	dataDir string
	log     *os.File
	// httpBase and httpsBase are where it serves plain HTTP and HTTPS.
	httpBase, httpsBase string
}

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// exampleOnFreePorts is Caddyfile.example as shipped, with its three ports
// (HTTP 8080, HTTPS 8443, admin 2019) moved to free ones, so the tests run
// next to a gateway a developer started on the example.
func exampleOnFreePorts(t *testing.T, dir string) (path string, httpPort, httpsPort int) {
	t.Helper()
	text, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	httpPort, httpsPort = freePort(t), freePort(t)
	s := string(text)
	for _, r := range [][2]string{
		{"localhost:2019", fmt.Sprintf("localhost:%d", freePort(t))},
		{"http://:8080", fmt.Sprintf("http://:%d", httpPort)},
		{"https://localhost:8443", fmt.Sprintf("https://localhost:%d", httpsPort)},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("Caddyfile.example no longer holds %q; update the e2e test", r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	path = filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, httpPort, httpsPort
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	dataDir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dataDir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	config, httpPort, httpsPort := exampleOnFreePorts(t, dataDir)
	cmd := exec.Command(caddyBin, "run", "--config", config)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dataDir, "XDG_CONFIG_HOME="+dataDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cmd: cmd, dataDir: dataDir, log: logFile,
		httpBase:  fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		httpsBase: fmt.Sprintf("https://localhost:%d", httpsPort)}
	t.Cleanup(func() { g.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(g.httpBase + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not come up: %v\n%s", err, g.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *gateway) logs() string {
	b, _ := os.ReadFile(g.log.Name())
	return string(b)
}

func (g *gateway) stop(t *testing.T) {
	_ = g.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		t.Errorf("caddy did not stop on SIGINT")
	}
	g.log.Close()
	if t.Failed() {
		t.Logf("caddy log:\n%s", g.logs())
	}
}

// httpsClient trusts the local CA `tls internal` made; http2 picks whether
// the client offers HTTP/2.
func (g *gateway) httpsClient(t *testing.T, http2 bool) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(g.dataDir, "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("reading Caddy's local root certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in root.crt")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestCaddyCommands(t *testing.T) {
	out, err := exec.Command(caddyBin, "list-modules").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "http.handlers.llm_gateway") {
		t.Fatalf("caddy list-modules does not show the gateway: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"adapt", "--config", "../Caddyfile.example"},
		{"validate", "--config", "../Caddyfile.example"},
	} {
		cmd := exec.Command(caddyBin, args...)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("caddy %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestExampleOverHTTPAndHTTPS(t *testing.T) {
	g := startGateway(t)
	clients := []struct {
		name   string
		base   string
		client *http.Client
		proto  string
	}{
		{"http", g.httpBase, http.DefaultClient, "HTTP/1.1"},
		{"https-h1", g.httpsBase, g.httpsClient(t, false), "HTTP/1.1"},
		{"https-h2", g.httpsBase, g.httpsClient(t, true), "HTTP/2.0"},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			resp, body := send(t, c.client, c.base+"/v1/chat/completions",
				`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Proto != c.proto {
				t.Errorf("protocol %s, want %s", resp.Proto, c.proto)
			}
			if gjson.GetBytes(body, "choices.0.message.content").Str == "" || !gjson.GetBytes(body, "usage").Exists() {
				t.Errorf("not a chat completion: %s", body)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}

			// Streams arrive event by event, in both protocols.
			assertStreams(t, c.client, c.base+"/v1/chat/completions",
				`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}`, "")
			assertStreams(t, c.client, c.base+"/v1/messages",
				`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`, "message_stop")

			// Bad input is an envelope, and the server keeps serving.
			resp, body = send(t, c.client, c.base+"/v1/chat/completions", `{"model":`)
			if resp.StatusCode != 400 || gjson.GetBytes(body, "error.type").Str != "invalid_request_error" {
				t.Errorf("invalid JSON: status %d, body %s", resp.StatusCode, body)
			}
			resp, body = send(t, c.client, c.base+"/v1/chat/completions", `{"model":"unknown-model","messages":[{"role":"user","content":"x"}]}`)
			if resp.StatusCode != 404 {
				t.Errorf("unknown model: status %d, body %s", resp.StatusCode, body)
			}
		})
	}
}

func send(t *testing.T, client *http.Client, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return sendRequest(t, client, req)
}

func sendRequest(t *testing.T, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	url := req.URL.String()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// assertStreams checks a streamed answer arrives as several events spread
// over time, ending with [DONE] (OpenAI) or lastEvent (Anthropic).
func assertStreams(t *testing.T, client *http.Client, url, body, lastEvent string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var times []time.Duration
	var last string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data:") {
			times = append(times, time.Since(start))
			last = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	if len(times) < 5 {
		t.Fatalf("only %d events", len(times))
	}
	if spread := times[len(times)-1] - times[0]; spread < 100*time.Millisecond {
		t.Errorf("all %d events arrived within %v: the stream was buffered", len(times), spread)
	}
	if lastEvent == "" && last != "[DONE]" {
		t.Errorf("last event %q, want [DONE]", last)
	}
	if lastEvent != "" && gjson.Get(last, "type").Str != lastEvent {
		t.Errorf("last event %q, want %s", last, lastEvent)
	}
}
