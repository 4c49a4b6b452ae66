package llmgateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestValidateRejectsBadNumbers loads each testdata/validate case, a
// handler's JSON (what a JSON config or the admin API may hold, where the
// Caddyfile adapter's checks never ran) followed by the error `caddy
// validate` must give, naming the directive and the value.
func TestValidateRejectsBadNumbers(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/*.jsontest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".jsontest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			handler, want, ok := strings.Cut(string(raw), goldenSeparator)
			if !ok {
				t.Fatalf("no %q separator", strings.TrimSpace(goldenSeparator))
			}
			cfgText := `{"apps":{"http":{"servers":{"srv0":{"listen":[":8080"],"routes":[{"handle":[` + handler + `]}]}}}}}`
			var cfg caddy.Config
			if err := json.Unmarshal([]byte(cfgText), &cfg); err != nil {
				t.Fatalf("case JSON: %v", err)
			}
			err = caddy.Validate(&cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if want = strings.TrimSpace(want); !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, want)
			}
		})
	}
}
