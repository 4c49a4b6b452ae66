package llmgateway

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// goldenSeparator splits a .caddyfiletest file into the Caddyfile and what
// it must give: the adapted JSON, or `ERROR: <message>` for a config the
// adapter or Caddy's validation must reject.
const goldenSeparator = "\n----------\n"

// TestCaddyfileAdapt adapts every testdata/caddyfile_adapt case and compares
// the JSON, or the error, with the golden text; accepted configs must also
// pass `caddy validate`.
func TestCaddyfileAdapt(t *testing.T) {
	t.Setenv("TEAM_C_KEY", "ck-from-the-environment")
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden Caddyfiles: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfileText, want, ok := strings.Cut(string(raw), goldenSeparator)
			if !ok {
				t.Fatalf("%s has no %q separator", file, strings.TrimSpace(goldenSeparator))
			}
			got := adaptAndValidate(t, caddyfileText)
			if *update {
				if err := os.WriteFile(file, []byte(caddyfileText+goldenSeparator+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("%s:\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
			}
		})
	}
}

// adaptAndValidate returns the pretty adapted JSON, or "ERROR: " and the
// first error of adapting or validating it.
func adaptAndValidate(t *testing.T, caddyfileText string) string {
	t.Helper()
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	if err != nil {
		return "ERROR: " + err.Error()
	}
	var cfg caddy.Config
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatalf("adapted JSON does not load: %v", err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		return "ERROR: " + err.Error()
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, adapted, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return pretty.String()
}

// The example every newcomer starts from must adapt and validate as shipped.
func TestCaddyfileExampleIsValid(t *testing.T) {
	raw, err := os.ReadFile("Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := adaptAndValidate(t, string(raw)); strings.HasPrefix(got, "ERROR") {
		t.Fatalf("Caddyfile.example: %s", got)
	}
}
