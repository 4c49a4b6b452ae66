package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func sha(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// testKey is a key named team-a with policy p (and no defaults).
func testKey(t testing.TB, p Policy) *Key {
	t.Helper()
	kr, err := NewKeyring([]*KeyConfig{{KeySHA256: sha("secret-" + t.Name()), Name: "team-a", Policy: p}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kr.Keys()[0]
}

func TestMergePolicy(t *testing.T) {
	fiveH := &SessionQuota{Window: caddy.Duration(5 * time.Hour), Tokens: 1000}
	oneH := &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 50}
	for _, tc := range []struct {
		name      string
		own, def  Policy
		effective Policy
	}{
		{"nothing", Policy{}, Policy{}, Policy{}},
		{"defaults fill unset fields", Policy{RPM: 10}, Policy{RPM: 60, TPM: 1000, Concurrency: 2, Budget: 5},
			Policy{RPM: 10, TPM: 1000, Concurrency: 2, Budget: 5}},
		{"unlimited lifts defaults", Policy{RPM: Unlimited, TPM: Unlimited, Concurrency: Unlimited, Budget: Unlimited, Session: &SessionQuota{Tokens: Unlimited}},
			Policy{RPM: 60, TPM: 1000, Concurrency: 2, Budget: 5, Session: fiveH}, Policy{}},
		{"unlimited default is no limit", Policy{}, Policy{RPM: Unlimited, Budget: Unlimited, Session: &SessionQuota{Tokens: Unlimited}}, Policy{}},
		{"session from defaults", Policy{RPM: 1}, Policy{Session: fiveH}, Policy{RPM: 1, Session: fiveH}},
		{"session is one field", Policy{Session: oneH}, Policy{Session: fiveH}, Policy{Session: oneH}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := NewKeyring([]*KeyConfig{{KeySHA256: sha("x"), Policy: tc.own}}, &tc.def, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := kr.Keys()[0].Policy; !reflect.DeepEqual(got, tc.effective) {
				t.Errorf("effective policy = %+v, want %+v", got, tc.effective)
			}
			// The anonymous key takes the defaults the same way.
			anon, _ := NewKeyring(nil, &tc.def, nil)
			if got, want := anon.Keys()[0].Policy, merge(Policy{}, tc.def); !reflect.DeepEqual(got, want) {
				t.Errorf("anonymous policy = %+v, want %+v", got, want)
			}
		})
	}
}

func TestKeyringIdentity(t *testing.T) {
	hash := sha("ck-live-abc")
	kr, err := NewKeyring([]*KeyConfig{
		{KeySHA256: strings.ToUpper(hash)},
		{KeySHA256: sha("other"), Name: "named"},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := kr.Keys()[0]
	if k.ID != hash {
		t.Errorf("ID = %q, want the lower-case hash (the counters' name)", k.ID)
	}
	// The names and IDs shown outside the store hold no part of the hash.
	if !strings.HasPrefix(k.PublicID, "cfg_") || len(k.PublicID) != 24 || strings.Contains(hash, k.PublicID[4:12]) {
		t.Errorf("PublicID %q", k.PublicID)
	}
	if k.Name != "key-"+k.PublicID[4:12] || strings.Contains(hash, k.Name[4:]) || k.Source != SourceConfig {
		t.Errorf("Name %q, source %q", k.Name, k.Source)
	}
	again, _ := NewKeyring([]*KeyConfig{{KeySHA256: hash}}, nil, nil)
	if again.Keys()[0].PublicID != k.PublicID {
		t.Error("a config key's PublicID changed from one load to the next")
	}
	if kr.Anonymous() {
		t.Error("a keyring with keys is not anonymous")
	}
	anon, _ := NewKeyring(nil, nil, nil)
	if !anon.Anonymous() {
		t.Fatal("a keyring without keys is anonymous")
	}
	for _, secret := range []string{"", "anything"} {
		k, e := anon.Authenticate(secret, time.Now())
		if e != nil || k.ID != AnonymousID {
			t.Errorf("anonymous Authenticate(%q) = %v, %v", secret, k, e)
		}
	}
}

func TestNewKeyringErrors(t *testing.T) {
	const secret = "ck-live-Zq8vT3mXw9Lp2Rb7Hn4"
	t.Setenv("LIMITS_TEST_EMPTY", "")
	for _, tc := range []struct {
		name string
		cfgs []*KeyConfig
		def  *Policy
		want string
	}{
		{"neither", []*KeyConfig{{Name: "a"}}, nil, "keys[0] (a): key_sha256 is missing"},
		{"both", []*KeyConfig{{Name: "a", KeySHA256: sha(secret), Key: secret}}, nil, "not both"},
		{"bad hash", []*KeyConfig{{KeySHA256: "abc"}}, nil, "keys[0]: key_sha256: want the 64 hex digits"},
		{"duplicate key", []*KeyConfig{{KeySHA256: sha(secret), Name: "a"}, {Key: secret, Name: "b"}}, nil, "keys[1] (b): the same key as a is configured twice"},
		{"duplicate name", []*KeyConfig{{KeySHA256: sha("1"), Name: "a"}, {KeySHA256: sha("2"), Name: "a"}}, nil, `name "a" is also the name of keys[0]`},
		{"default name clash", []*KeyConfig{{KeySHA256: sha("1")}, {KeySHA256: sha("2"), Name: defaultName(sha("1"))}}, nil, "is also the name of keys[0]"},
		{"reserved name", []*KeyConfig{{KeySHA256: sha("1"), Name: "anonymous"}}, nil, "reserved"},
		{"bad name", []*KeyConfig{{KeySHA256: sha("1"), Name: " a"}}, nil, "leading or trailing"},
		{"negative rpm", []*KeyConfig{{KeySHA256: sha("1"), Policy: Policy{RPM: -5}}}, nil, "rpm: -5"},
		{"negative budget", []*KeyConfig{{KeySHA256: sha("1"), Policy: Policy{Budget: -2}}}, nil, "budget"},
		{"session without window", []*KeyConfig{{KeySHA256: sha("1"), Policy: Policy{Session: &SessionQuota{Tokens: 5}}}}, nil, "session: window"},
		{"session without tokens", []*KeyConfig{{KeySHA256: sha("1"), Policy: Policy{Session: &SessionQuota{Window: caddy.Duration(time.Hour)}}}}, nil, "session: tokens"},
		{"bad defaults", []*KeyConfig{{KeySHA256: sha("1")}}, &Policy{TPM: -3}, "limits: tpm"},
		{"empty placeholder", []*KeyConfig{{Key: "{env.LIMITS_TEST_EMPTY}", Name: "env"}}, nil, "keys[0] (env): its key resolved to an empty value"},
		{"empty provider", []*KeyConfig{{KeySHA256: sha("1"), Providers: []string{""}}}, nil, "providers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeyring(tc.cfgs, tc.def, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			assertNoSecret(t, err.Error(), secret)
		})
	}
}

func TestKeyPlaceholder(t *testing.T) {
	t.Setenv("LIMITS_TEST_KEY", "ck-from-env")
	kr, err := NewKeyring([]*KeyConfig{{Key: "{env.LIMITS_TEST_KEY}", Name: "env"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, e := kr.Authenticate("ck-from-env", time.Now())
	if e != nil || k.Name != "env" || k.ID != sha("ck-from-env") {
		t.Fatalf("Authenticate = %v, %v", k, e)
	}
}

// assertNoSecret fails when msg holds secret or any 4-byte fragment of it.
func assertNoSecret(t *testing.T, msg, secret string) {
	t.Helper()
	for i := 0; i+4 <= len(secret); i++ {
		frag := secret[i : i+4]
		if strings.Contains(msg, frag) && !strings.Contains(innocentText, frag) {
			t.Errorf("message %q holds %q, a fragment of the secret", msg, frag)
			return
		}
	}
}

// innocentText is words messages may hold that a test secret also holds.
const innocentText = "ck-live-"

func TestAuthenticate(t *testing.T) {
	const (
		good     = "ck-live-0123456789abcdef"
		expired  = "ck-live-Jd7Kq2Wz9Xc4"
		disabled = "ck-live-Pm3Ns8Vt6Yb1"
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Hour)
	future := now.Add(time.Hour)
	kr, err := NewKeyring([]*KeyConfig{
		{KeySHA256: sha(good), Name: "team-a", Expires: &future},
		{KeySHA256: sha(expired), Name: "old-team", Expires: &past},
		{KeySHA256: sha(disabled), Name: "gone", Disabled: true},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, secret string
		code         llmerrors.Code
		msg          []string // substrings; the first, when exact, is the whole message
		exact        bool
	}{
		{"valid", good, "", nil, false},
		{"missing", "", llmerrors.MissingAPIKey, []string{"Missing API key. Send it as Authorization: Bearer <key> or x-api-key."}, true},
		{"unknown", "ck-live-0123456789abcdeX", llmerrors.InvalidAPIKey, []string{"Invalid API key"}, true},
		{"prefix of a key", good[:10], llmerrors.InvalidAPIKey, []string{"Invalid API key"}, true},
		{"expired", expired, llmerrors.InvalidAPIKey, []string{"old-team", "expired at 2026-03-01T11:00:00Z", "Ask the gateway's administrator"}, false},
		{"disabled", disabled, llmerrors.InvalidAPIKey, []string{"gone", "disabled"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, e := kr.Authenticate(tc.secret, now)
			if tc.code == "" {
				if e != nil || k == nil || k.Name != "team-a" {
					t.Fatalf("Authenticate = %v, %v", k, e)
				}
				return
			}
			if e == nil || k != nil {
				t.Fatalf("Authenticate = %v, %v; want %s", k, e, tc.code)
			}
			if e.Code != tc.code {
				t.Errorf("code = %s, want %s", e.Code, tc.code)
			}
			if tc.exact && e.Message != tc.msg[0] {
				t.Errorf("message = %q, want %q", e.Message, tc.msg[0])
			}
			for _, m := range tc.msg {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q lacks %q", e.Message, m)
				}
			}
			for _, s := range []string{tc.secret, good, expired, disabled} {
				assertNoSecret(t, e.Message+e.Suggestion, s)
			}
		})
	}
	// At the very instant of expiry the key no longer works.
	if _, e := kr.Authenticate(good, future); e == nil {
		t.Error("a key is refused from its expiry on")
	}
}

func TestAllows(t *testing.T) {
	kr, err := NewKeyring([]*KeyConfig{
		{KeySHA256: sha("1"), Name: "team-a", Providers: []string{"groq", "anthropic"}, Models: []string{"llama-*", "moonshotai/*", "anthropic:claude-*-4*"}},
		{KeySHA256: sha("2"), Name: "all"},
		{KeySHA256: sha("3"), Name: "colon", Models: []string{"*:free"}},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, all, colon := kr.Keys()[0], kr.Keys()[1], kr.Keys()[2]
	for _, tc := range []struct {
		k               *Key
		provider, model string
		want            llmerrors.Code
		msg             string
	}{
		{all, "openai", "gpt-4o", "", ""},
		{a, "groq", "llama-3.1-70b-versatile", "", ""},
		{a, "groq", "moonshotai/kimi-k2-instruct", "", ""},
		{a, "anthropic", "claude-sonnet-4-5", "", ""},
		{a, "groq", "claude-sonnet-4-5", llmerrors.ModelNotAllowed, "API key team-a may not use model claude-sonnet-4-5 (provider groq). It may use models matching: llama-*, moonshotai/*, anthropic:claude-*-4*."},
		{a, "groq", "mixtral-8x7b", llmerrors.ModelNotAllowed, "may not use model mixtral-8x7b"},
		{a, "openai", "llama-3", llmerrors.ProviderNotAllowed, "API key team-a may not use provider openai. It may use: groq, anthropic."},
		{colon, "openrouter", "meta/llama:free", "", ""},
		{colon, "openrouter", "meta/llama", llmerrors.ModelNotAllowed, "colon"},
	} {
		e := tc.k.Allows(tc.provider, tc.model)
		switch {
		case tc.want == "" && e != nil:
			t.Errorf("%s Allows(%s, %s) = %v, want nil", tc.k.Name, tc.provider, tc.model, e)
		case tc.want != "" && (e == nil || e.Code != tc.want || !strings.Contains(e.Message, tc.msg)):
			t.Errorf("%s Allows(%s, %s) = %v, want %s containing %q", tc.k.Name, tc.provider, tc.model, e, tc.want, tc.msg)
		case e != nil && e.Provider != tc.provider:
			t.Errorf("error names provider %q, want %q", e.Provider, tc.provider)
		}
	}
}

func TestKeyPredicates(t *testing.T) {
	for _, tc := range []struct {
		p             Policy
		tokens, rates bool
	}{
		{Policy{}, false, false},
		{Policy{RPM: 5}, false, true},
		{Policy{TPM: 5}, true, true},
		{Policy{Concurrency: 5}, false, false},
		{Policy{Budget: 5}, true, false},
		{Policy{Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 5}}, true, false},
		{Policy{TPM: Unlimited, Budget: Unlimited}, false, false},
	} {
		k := testKey(t, tc.p)
		if k.CountsTokens() != tc.tokens || k.HasRateLimits() != tc.rates {
			t.Errorf("%+v: CountsTokens, HasRateLimits = %v, %v; want %v, %v", tc.p, k.CountsTokens(), k.HasRateLimits(), tc.tokens, tc.rates)
		}
	}
}

// defaultName is the name a config key with hash sum gets.
func defaultName(sum string) string {
	kr, _ := NewKeyring([]*KeyConfig{{KeySHA256: sum}}, nil, nil)
	return kr.Keys()[0].Name
}
