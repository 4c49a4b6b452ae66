package limits

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeysFile(t *testing.T) {
	path := writeFile(t, "keys.json", `[
  {"name": "team-a", "key_sha256": "`+sha("ck-a")+`", "providers": ["groq"], "models": ["llama-*"],
   "rpm": 60, "tpm": 100000, "concurrency": 4, "budget": 50,
   "session": {"window": "5h", "tokens": 2000000}},
  {"name": "ci", "key_sha256": "`+sha("ck-ci")+`", "expires": "2026-12-31T00:00:00Z", "rpm": -1},
  {"key": "{env.LIMITS_FILE_KEY}", "disabled": true}
]`)
	cfgs, err := LoadKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 3 {
		t.Fatalf("got %d keys, want 3", len(cfgs))
	}
	a := cfgs[0]
	if a.Name != "team-a" || a.RPM != 60 || a.TPM != 100000 || a.Concurrency != 4 || a.Budget != 50 ||
		a.Session == nil || time.Duration(a.Session.Window) != 5*time.Hour || a.Session.Tokens != 2000000 {
		t.Errorf("team-a = %+v", a)
	}
	if cfgs[1].Expires == nil || !cfgs[1].Expires.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) || cfgs[1].RPM != Unlimited {
		t.Errorf("ci = %+v", cfgs[1])
	}
	t.Setenv("LIMITS_FILE_KEY", "ck-env")
	kr, err := NewKeyring(cfgs, &Policy{RPM: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k, e := kr.Authenticate("ck-a", time.Now()); e != nil || k.Name != "team-a" {
		t.Errorf("Authenticate(team-a) = %v, %v", k, e)
	}
	if k, _ := kr.Authenticate("ck-ci", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); k == nil || k.Policy.RPM != 0 {
		t.Errorf("ci: %v; want a key with no rpm limit", k)
	}
}

func TestLoadKeysFileErrors(t *testing.T) {
	const secret = "ck-live-Gh5Tr8Qw2Ez7"
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"not an array", `{"name": "a"}`, []string{"not a JSON array of keys"}},
		{"syntax", "[\n  {\"name\": \"a\",}\n]", []string{"invalid JSON at line 2"}},
		{"empty file", ``, []string{"not a JSON array"}},
		{"unknown field", `[{"name": "a", "key_sha256": "` + sha("1") + `", "rpn": 5}]`, []string{"entry 0", `unknown field "rpn"`}},
		{"wrong type", `[{"name": "a", "key_sha256": "` + sha("1") + `", "rpm": "sixty"}]`, []string{"entry 0", "field rpm", "want int64"}},
		{"bad hash", `[{"name": "a", "key_sha256": "` + sha("1") + `"}, {"name": "b", "key_sha256": "xyz"}]`, []string{"entry 1 (b)", "key_sha256"}},
		{"missing hash", `[{"name": "a"}]`, []string{"entry 0 (a): key_sha256 is missing"}},
		{"secret in file", `[{"name": "a", "key": "` + secret + `"}]`, []string{"entry 0 (a)", "`key` holds a secret"}},
		{"secret as entry", `["` + secret + `"]`, []string{"entry 0", "got a JSON string"}},
		{"bad limit", `[{"name": "a", "key_sha256": "` + sha("1") + `", "concurrency": -7}]`, []string{"entry 0 (a): concurrency"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "keys.json", tc.content)
			_, err := LoadKeysFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append([]string{"keys_file " + path}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			assertNoSecret(t, msg, secret)
		})
	}
	if _, err := LoadKeysFile(filepath.Join(t.TempDir(), "none.json")); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestDocsKeysFileExample loads the keys_file example of docs/limits.md, so
// the documentation cannot drift from what the gateway reads.
func TestDocsKeysFileExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/limits.md")
	if err != nil {
		t.Skip("docs/limits.md not found:", err)
	}
	_, rest, ok := strings.Cut(string(doc), "### keys_file")
	if !ok {
		t.Fatal("docs/limits.md has no keys_file section")
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no JSON example in the keys_file section")
	}
	cfgs, err := LoadKeysFile(writeFile(t, "keys.json", example))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(cfgs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for secret, name := range map[string]string{"ck-live-team-a-example": "team-a", "ck-live-ci-example": "ci"} {
		if k, e := kr.Authenticate(secret, now); e != nil || k.Name != name {
			t.Errorf("Authenticate(%s) = %v, %v", name, k, e)
		}
	}
	if _, e := kr.Authenticate("ck-live-old-laptop-example", now); e == nil {
		t.Error("the disabled example key was accepted")
	}
}
