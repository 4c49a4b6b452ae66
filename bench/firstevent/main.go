// Command firstevent measures what translation adds to the time an
// Anthropic client waits for the first event of a stream, through a
// built caddy with the gateway: the same streamed /v1/messages request,
// answered by the same fake provider with the same pacing, once by its
// Anthropic side (passed through) and once by its OpenAI side (the
// request translated to Chat Completions, the chunks back to Anthropic
// events). Requests alternate between the two routes, one at a time, so
// both see the same machine; it prints the percentiles of each and their
// difference. It is a benchmark: it exits 0 whatever the figures.
//
//	go run ./bench/firstevent                 # builds caddy with ./build.sh
//	go run ./bench/firstevent -caddy ./caddy -n 500
//
// Two requests are measured: a short one ("Say hello.") and the 49 KB
// Claude Code request of testdata/requests/claude_code.json, whose
// translation (and the token estimate message_start carries) is the
// largest cost the gateway adds.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/sjson"
)

func main() {
	caddyBin := flag.String("caddy", "", "caddy binary with the gateway (default: built with ./build.sh into a temp dir)")
	n := flag.Int("n", 300, "measured requests per route and request")
	warmup := flag.Int("warmup", 30, "unmeasured requests per route and request first")
	deltas := flag.Int("deltas", 10, "text deltas in each streamed answer")
	pace := flag.Duration("pace", 2*time.Millisecond, "pause between the fake's text deltas (the first two events leave at once)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "firstevent-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if *caddyBin == "" {
		*caddyBin = filepath.Join(dir, "bin", "caddy")
		log.Printf("building caddy with ./build.sh")
		if out, err := exec.Command("./build.sh", *caddyBin).CombinedOutput(); err != nil {
			log.Fatalf("build.sh: %v\n%s", err, out)
		}
	}

	fake := &fakeProvider{deltas: *deltas, pace: *pace}
	fakeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.Serve(fakeLn, fake) }()
	fakeURL := "http://" + fakeLn.Addr().String()

	port := freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	config := filepath.Join(dir, "Caddyfile")
	err = os.WriteFile(config, []byte(fmt.Sprintf(`{
	admin off
	log {
		level ERROR
	}
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		provider ant {
			type anthropic
			base_url %s
			api_key sk-ant-bench
			models claude-*
		}
		provider oai {
			type openai
			base_url %s/v1
			api_key sk-bench
			models gpt-*
		}
	}
}
`, port, fakeURL, fakeURL)), 0o644)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(*caddyBin, "run", "--config", config)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	logs, _ := os.Create(filepath.Join(dir, "caddy.log"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
	}()
	if err := waitHealthy(base, exited); err != nil {
		b, _ := os.ReadFile(logs.Name())
		log.Fatalf("%v\n%s", err, b)
	}

	claudeCode, err := os.ReadFile("testdata/requests/claude_code.json")
	if err != nil {
		log.Fatal(err)
	}
	bodies := []struct{ name, body string }{
		{"short request", `{"model":"M","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}`},
		{"Claude Code request (49 KB)", string(claudeCode)},
	}
	routes := []struct{ name, model string }{
		{"Anthropic upstream (passed through)", "claude-sonnet-4-5"},
		{"OpenAI upstream (translated)", "gpt-4o"},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	fmt.Printf("time to first event (message_start) and to first text delta, Anthropic client, %d requests per row, alternating routes, one at a time\n", *n)
	fmt.Printf("fake provider: first events at once, then %d text deltas %v apart\n\n", *deltas, *pace)
	fmt.Printf("%-30s %-38s %9s %9s %9s %9s   %9s %9s\n", "request", "route", "p50", "p90", "p99", "mean", "text p50", "text p99")
	for _, b := range bodies {
		var reqs [2][]byte
		for i, r := range routes {
			body, err := sjson.SetBytes([]byte(b.body), "model", r.model)
			if err != nil {
				log.Fatal(err)
			}
			reqs[i] = body
		}
		var first, text [2][]time.Duration
		for i := range *warmup + *n {
			for r := range routes {
				// Alternate which route goes first in each pair.
				r = (r + i) % len(routes)
				f, tx, err := measure(client, base, reqs[r])
				if err != nil {
					log.Fatalf("%s on %s: %v", b.name, routes[r].name, err)
				}
				if i >= *warmup {
					first[r] = append(first[r], f)
					text[r] = append(text[r], tx)
				}
			}
		}
		for r, route := range routes {
			s, tx := summarize(first[r]), summarize(text[r])
			fmt.Printf("%-30s %-38s %9s %9s %9s %9s   %9s %9s\n", b.name, route.name, us(s.p50), us(s.p90), us(s.p99), us(s.mean), us(tx.p50), us(tx.p99))
		}
		a, o := summarize(first[0]), summarize(first[1])
		fmt.Printf("%-30s %-38s %9s %9s %9s %9s\n\n", b.name, "translated − passed through", us(o.p50-a.p50), us(o.p90-a.p90), us(o.p99-a.p99), us(o.mean-a.mean))
	}
}

// measure sends one streamed request and returns the time to the end of
// its first event and to its first text delta, reading the stream to
// its end.
func measure(client *http.Client, base string, body []byte) (first, text time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	r := bufio.NewReader(resp.Body)
	last := ""
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
		switch {
		case line == "\n" && first == 0:
			first = time.Since(start)
		case strings.HasPrefix(line, "event: "):
			last = strings.TrimSpace(line[len("event: "):])
			if last == "content_block_delta" && text == 0 {
				text = time.Since(start)
			}
		}
	}
	if first == 0 || text == 0 || last != "message_stop" {
		return 0, 0, fmt.Errorf("the stream ended on %q without a first event or a text delta", last)
	}
	return first, text, nil
}

type stats struct{ p50, p90, p99, mean time.Duration }

func summarize(d []time.Duration) stats {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return stats{at(0.50), at(0.90), at(0.99), sum / time.Duration(len(s))}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(base string, exited <-chan struct{}) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("caddy exited")
		default:
		}
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("caddy did not answer /health within 30 s")
}

// fakeProvider answers /v1/messages with Anthropic events and
// /v1/chat/completions with OpenAI chunks, the same text with the same
// pacing: the opening events and the first text delta at once, the
// other deltas pace apart.
type fakeProvider struct {
	deltas int
	pace   time.Duration
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(200)
	rc := http.NewResponseController(w)
	send := func(s string) {
		_, _ = io.WriteString(w, s)
		_ = rc.Flush()
	}
	anthropic := strings.HasSuffix(r.URL.Path, "/messages")
	if anthropic {
		send(`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_01Bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9000,"output_tokens":1}}}` + "\n\n" +
			`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
			`event: ping` + "\n" + `data: {"type": "ping"}` + "\n\n")
	} else {
		send(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764590000,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n")
	}
	for i := range f.deltas {
		if i > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(f.pace):
			}
		}
		if anthropic {
			send(`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word "}}` + "\n\n")
		} else {
			send(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764590000,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}],"usage":null}` + "\n\n")
		}
	}
	if anthropic {
		send(`event: content_block_stop` + "\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
			`event: message_delta` + "\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":` + fmt.Sprint(f.deltas) + `}}` + "\n\n" +
			`event: message_stop` + "\n" + `data: {"type":"message_stop"}` + "\n\n")
		return
	}
	send(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764590000,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764590000,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9000,"completion_tokens":` + fmt.Sprint(f.deltas) + `,"total_tokens":` + fmt.Sprint(9000+f.deltas) + `}}` + "\n\n" +
		"data: [DONE]\n\n")
}
