package llmgateway

// The Grafana dashboard (docs/grafana-dashboard.json) and the alerting
// rules (docs/alerts.yml) may only use what the gateway exports: this test
// reads the metric families and their labels from the collectors in
// metrics.go, parses every PromQL expression of both files, and checks each
// metric name, each label a selector filters on, each label an aggregation
// groups by, each vector match, each `{{label}}` of a legend and each
// `$labels.x` of an annotation against them. It also checks that every
// exported family appears on the dashboard, so a new metric gets a panel.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// family is one metric family the gateway exports.
type family struct {
	kind   string // counter, gauge or histogram
	labels []string
}

// series is a name PromQL can select: a counter or gauge by its name, a
// histogram by its _bucket, _sum and _count series.
type series struct {
	family string
	kind   string // counter, gauge
	labels map[string]bool
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

var (
	descName   = regexp.MustCompile(`fqName: "((?:[^"\\]|\\.)*)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// exportedFamilies reads the families from the collectors metrics.go
// registers, by their descriptions.
func exportedFamilies(t *testing.T) map[string]family {
	t.Helper()
	out := make(map[string]family)
	for _, c := range collectors {
		var kind string
		switch c.(type) {
		case *prometheus.CounterVec:
			kind = "counter"
		case *prometheus.GaugeVec:
			kind = "gauge"
		case *prometheus.HistogramVec:
			kind = "histogram"
		case stateCollector:
			kind = "gauge" // every family it emits is a GaugeValue
		default:
			t.Fatalf("collector %T: teach dashboard_test.go which kind of metric it exports", c)
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			s := d.String()
			m := descName.FindStringSubmatch(s)
			l := descLabels.FindStringSubmatch(s)
			if m == nil || l == nil {
				t.Fatalf("cannot read the description %s", s)
			}
			name, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			for _, v := range strings.Split(l[1], ",") {
				v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "c("), ")")
				if v != "" {
					labels = append(labels, v)
				}
			}
			out[name] = family{kind: kind, labels: labels}
		}
	}
	return out
}

// selectable is every series name PromQL may use, with its labels.
func selectable(fams map[string]family) map[string]series {
	out := make(map[string]series)
	add := func(name, fam, kind string, labels []string, extra ...string) {
		set := make(map[string]bool)
		for _, l := range slices.Concat(labels, extra, targetLabels) {
			set[l] = true
		}
		out[name] = series{family: fam, kind: kind, labels: set}
	}
	for name, f := range fams {
		if f.kind == "histogram" {
			add(name+"_bucket", name, "counter", f.labels, "le")
			add(name+"_sum", name, "counter", f.labels)
			add(name+"_count", name, "counter", f.labels)
			continue
		}
		add(name, name, f.kind, f.labels)
	}
	// Prometheus's own series for each target, for a scrape-down alert.
	out["up"] = series{family: "up", kind: "gauge", labels: map[string]bool{"job": true, "instance": true}}
	return out
}

func TestExportedFamilies(t *testing.T) {
	fams := exportedFamilies(t)
	// The contract's table, as a check that the reading above works.
	want := map[string]string{
		"caddy_llm_gateway_requests_total":           "provider,model,protocol,stream,code",
		"caddy_llm_gateway_upstream_attempts_total":  "provider,model,code",
		"caddy_llm_gateway_tokens_total":             "provider,model,type",
		"caddy_llm_gateway_cost_usd_total":           "provider,model",
		"caddy_llm_gateway_provider_state":           "provider,key_index",
		"caddy_llm_gateway_key_requests_total":       "key,code",
		"caddy_llm_gateway_key_spend_usd":            "key",
		"caddy_llm_gateway_key_budget_remaining_usd": "key",
		"gen_ai_server_request_duration_seconds":     "gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model,error_type",
		"gen_ai_server_time_to_first_token_seconds":  "gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model",
		"gen_ai_client_token_usage":                  "gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model,gen_ai_token_type",
	}
	for name, labels := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("%s: not exported", name)
			continue
		}
		if got := strings.Join(f.labels, ","); got != labels {
			t.Errorf("%s: labels %s, the contract says %s", name, got, labels)
		}
	}
	if len(fams) != len(want) {
		t.Errorf("%d families exported, the contract lists %d: update CONTRACT.md, docs/metrics.md and this test", len(fams), len(want))
	}
}

// A dashboard, as far as this test reads it.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Title      string         `json:"title"`
	Type       string         `json:"type"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		RefID        string         `json:"refId"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func TestDashboardMatchesMetrics(t *testing.T) {
	raw, err := os.ReadFile("docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	names := selectable(exportedFamilies(t))
	const ds = "${DS_PROMETHEUS}"
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs: want one prometheus datasource input DS_PROMETHEUS, got %+v", d.Inputs)
	}

	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	used := make(map[string]bool) // families the dashboard uses
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != ds {
			t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, ds)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // a plain string
		}
		m := regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`).FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		val, errs := checkPromQL(m[1], names, vars, used)
		for _, e := range errs {
			t.Errorf("variable %s: %s", v.Name, e)
		}
		if len(errs) == 0 && !val.labels[m[2]] {
			t.Errorf("variable %s: label_values of %s, which %s does not have", v.Name, m[2], m[1])
		}
	}

	var panels []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			panels = append(panels, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	exprs := 0
	ids := make(map[int]string)
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != ds {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs++
			where := fmt.Sprintf("panel %q, query %s", p.Title, tg.RefID)
			val, errs := checkPromQL(tg.Expr, names, vars, used)
			for _, e := range errs {
				t.Errorf("%s: %s\n\t%s", where, e, tg.Expr)
			}
			if len(errs) > 0 {
				continue
			}
			if val.typ != vVector {
				t.Errorf("%s: a %s, want an instant vector", where, val.typ)
			}
			for _, m := range regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`).FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !val.labels[m[1]] {
					t.Errorf("%s: legend {{%s}}, but the result's labels are %s", where, m[1], setString(val.labels))
				}
			}
		}
	}
	if exprs == 0 {
		t.Fatal("no PromQL in the dashboard")
	}
	for name := range exportedFamilies(t) {
		if !used[name] {
			t.Errorf("%s: exported, but no panel shows it", name)
		}
	}
}

// The rules file, as far as this test reads it.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertsMatchMetrics(t *testing.T) {
	raw, err := os.ReadFile("docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docs/alerts.yml: %v", err)
	}
	names := selectable(exportedFamilies(t))
	seen := make(map[string]bool)
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Record != "" {
				t.Errorf("group %s: every rule is an alert (got %q / %q)", g.Name, r.Alert, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s: defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if !regexp.MustCompile(`^[0-9]+[smh]$`).MatchString(r.For) {
				t.Errorf("alert %s: for %q, want a duration such as 5m", r.Alert, r.For)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: wants a summary and a description", r.Alert)
			}
			val, errs := checkPromQL(r.Expr, names, map[string]bool{}, map[string]bool{})
			for _, e := range errs {
				t.Errorf("alert %s: %s\n\t%s", r.Alert, e, r.Expr)
			}
			if len(errs) > 0 {
				continue
			}
			if val.typ != vVector {
				t.Errorf("alert %s: a %s, want an instant vector", r.Alert, val.typ)
			}
			for _, text := range r.Annotations {
				for _, m := range regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(text, -1) {
					if !val.labels[m[1]] {
						t.Errorf("alert %s: an annotation uses $labels.%s, but the result's labels are %s", r.Alert, m[1], setString(val.labels))
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules in docs/alerts.yml")
	}
}

// The checker must catch what it is for.
func TestPromQLChecker(t *testing.T) {
	names := selectable(exportedFamilies(t))
	vars := map[string]bool{"provider": true, "__rate_interval": true}
	good := []string{
		`sum by (code) (rate(caddy_llm_gateway_requests_total{provider=~"$provider"}[$__rate_interval]))`,
		`sum(rate(caddy_llm_gateway_requests_total[5m])) by (provider, model)`,
		`histogram_quantile(0.99, sum by (le, gen_ai_provider_name) (rate(gen_ai_server_time_to_first_token_seconds_bucket[5m])))`,
		`sum by (code) (rate(caddy_llm_gateway_requests_total{code!="ok"}[5m])) / ignoring (code) group_left sum(rate(caddy_llm_gateway_requests_total[5m]))`,
		`caddy_llm_gateway_key_budget_remaining_usd / (caddy_llm_gateway_key_budget_remaining_usd + caddy_llm_gateway_key_spend_usd) < 0.1`,
		`max by (provider) (caddy_llm_gateway_provider_state) == 2 and on (provider) sum by (provider) (rate(caddy_llm_gateway_requests_total[5m])) > 0`,
		`sum(increase(caddy_llm_gateway_cost_usd_total[1h])) or vector(0)`,
		`up == 0`,
		`-sum without (code, protocol, stream, job, instance) (rate(caddy_llm_gateway_requests_total[5m])) * 3600`,
	}
	for _, e := range good {
		if _, errs := checkPromQL(e, names, vars, map[string]bool{}); len(errs) > 0 {
			t.Errorf("%s: %v", e, errs)
		}
	}
	bad := map[string]string{
		`rate(caddy_llm_gateway_request_total[5m])`:                                                                           "unknown metric",
		`rate(caddy_llm_gateway_requests_total{key="a"}[5m])`:                                                                 "no label key",
		`sum by (key) (rate(caddy_llm_gateway_requests_total[5m]))`:                                                           "not in",
		`rate(caddy_llm_gateway_provider_state[5m])`:                                                                          "a gauge",
		`histogram_quantile(0.9, sum by (provider) (rate(gen_ai_server_time_to_first_token_seconds_bucket[5m])))`:             "not in",
		`histogram_quantile(0.9, sum by (gen_ai_provider_name) (rate(gen_ai_server_time_to_first_token_seconds_bucket[5m])))`: "le",
		`sum by (code) (rate(caddy_llm_gateway_requests_total[5m])) / sum(rate(caddy_llm_gateway_requests_total[5m]))`:        "match nothing",
		`sum by (provider) (rate(caddy_llm_gateway_requests_total{provider=~"$provder"}[5m]))`:                                "variable",
		`rate(gen_ai_server_request_duration_seconds[5m])`:                                                                    "unknown metric",
		`sum(caddy_llm_gateway_requests_total`:                                                                                "want )",
		`caddy_llm_gateway_key_spend_usd / on (provider) caddy_llm_gateway_key_budget_remaining_usd`:                          "on (provider)",
	}
	for e, want := range bad {
		_, errs := checkPromQL(e, names, vars, map[string]bool{})
		if !strings.Contains(fmt.Sprint(errs), want) {
			t.Errorf("%s: errors %v, want one saying %q", e, errs, want)
		}
	}
}

// ---- A PromQL reader for the expressions dashboards and rules use. ----

type vtype string

const (
	vScalar vtype = "scalar"
	vVector vtype = "instant vector"
	vMatrix vtype = "range vector"
	vString vtype = "string"
)

// pval is what an expression yields: its type and the labels its series
// may carry.
type pval struct {
	typ     vtype
	labels  map[string]bool
	counter bool     // a range of a counter's samples
	eqLabs  []string // the labels a selector matches with =, for absent()
	str     string   // a string literal's value
}

type token struct {
	kind string // ident, num, str, range, op, eof
	s    string
	pos  int
}

func lexPromQL(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, token{"str", src[i+1 : j], i})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(src[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ at %d", i)
			}
			toks = append(toks, token{"range", strings.TrimSpace(src[i+1 : i+j]), i})
			i += j + 1
		case unicode.IsDigit(rune(c)) || (c == '.' && i+1 < len(src) && unicode.IsDigit(rune(src[i+1]))):
			j := i
			for j < len(src) && (unicode.IsDigit(rune(src[j])) || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				((src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{"num", src[i:j], i})
			i = j
		case c == '_' || c == ':' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == ':' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			toks = append(toks, token{"ident", src[i:j], i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "==", "!=", "<=", ">=", "=~", "!~":
				toks = append(toks, token{"op", two, i})
				i += 2
				continue
			}
			if strings.IndexByte("(){},=<>+-*/%^@", c) < 0 {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			toks = append(toks, token{"op", string(c), i})
			i++
		}
	}
	return append(toks, token{"eof", "", len(src)}), nil
}

// promChecker parses one expression and checks it as it goes.
type promChecker struct {
	toks  []token
	p     int
	names map[string]series
	used  map[string]bool
	errs  []string
}

var (
	aggOps = map[string]bool{"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true,
		"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true}
	// functions of a range vector, and whether they want a counter
	rangeFns = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true,
		"delta": false, "idelta": false, "deriv": false, "changes": false, "avg_over_time": false,
		"min_over_time": false, "max_over_time": false, "sum_over_time": false, "count_over_time": false,
		"last_over_time": false, "stddev_over_time": false, "present_over_time": false, "absent_over_time": false}
	// functions of an instant vector that keep its labels
	keepFns = map[string]bool{"abs": true, "ceil": true, "floor": true, "round": true, "sqrt": true, "exp": true,
		"ln": true, "log2": true, "log10": true, "clamp": true, "clamp_min": true, "clamp_max": true,
		"sort": true, "sort_desc": true, "timestamp": true}
	durationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	variableRE = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))`)
)

// checkPromQL parses expr and returns what it yields, or what is wrong
// with it. vars are the dashboard's variables; the families expr selects
// are added to used.
func checkPromQL(expr string, names map[string]series, vars, used map[string]bool) (pval, []string) {
	var errs []string
	for _, m := range variableRE.FindAllStringSubmatch(expr, -1) {
		name := m[1] + m[2]
		if !vars[name] {
			errs = append(errs, fmt.Sprintf("unknown dashboard variable $%s", name))
		}
	}
	// Grafana's interval variables stand for durations.
	src := regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`).ReplaceAllString(expr, "5m")
	toks, err := lexPromQL(src)
	if err != nil {
		return pval{}, append(errs, err.Error())
	}
	c := &promChecker{toks: toks, names: names, used: used}
	v := c.parseExpr(0)
	if c.peek().kind != "eof" {
		c.fail("unexpected %q after the expression", c.peek().s)
	}
	return v, append(errs, c.errs...)
}

func (c *promChecker) peek() token { return c.toks[c.p] }
func (c *promChecker) next() token {
	t := c.toks[c.p]
	if t.kind != "eof" {
		c.p++
	}
	return t
}
func (c *promChecker) fail(format string, a ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, a...))
}
func (c *promChecker) expect(s string) {
	if t := c.next(); t.s != s || t.kind == "str" {
		c.fail("want %s at %d, got %q", s, t.pos, t.s)
	}
}

// binary operators by precedence, lowest first
var binPrec = map[string]int{"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
	"+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}

func (c *promChecker) binOp() (string, int) {
	t := c.peek()
	if t.kind == "op" || t.kind == "ident" {
		if p, ok := binPrec[t.s]; ok {
			return t.s, p
		}
	}
	return "", 0
}

func (c *promChecker) parseExpr(minPrec int) pval {
	lhs := c.parseUnary()
	for {
		op, prec := c.binOp()
		if op == "" || prec <= minPrec && !(op == "^" && prec == minPrec) {
			return lhs
		}
		c.next()
		m := matching{}
		if c.peek().s == "bool" {
			c.next()
			m.boolean = true
		}
		if s := c.peek().s; s == "on" || s == "ignoring" {
			c.next()
			m.on, m.ignoring = s == "on", s == "ignoring"
			m.labels = c.labelList()
		}
		if s := c.peek().s; s == "group_left" || s == "group_right" {
			c.next()
			m.group = s
			if c.peek().s == "(" {
				m.include = c.labelList()
			}
		}
		rhs := c.parseExpr(prec)
		lhs = c.binary(op, lhs, rhs, m)
	}
}

type matching struct {
	boolean, on, ignoring bool
	labels, include       []string
	group                 string
}

func (c *promChecker) binary(op string, l, r pval, m matching) pval {
	setOp := op == "and" || op == "or" || op == "unless"
	if setOp && m.group != "" {
		c.fail("%s with %s: set operators take no grouping", op, m.group)
	}
	if m.boolean && binPrec[op] != binPrec["=="] {
		c.fail("bool after %s: only comparisons take bool", op)
	}
	if l.typ == vScalar && r.typ == vScalar {
		if setOp {
			c.fail("%s between scalars", op)
		}
		return pval{typ: vScalar}
	}
	if l.typ != vVector && l.typ != vScalar || r.typ != vVector && r.typ != vScalar {
		c.fail("%s of a %s and a %s", op, l.typ, r.typ)
		return pval{typ: vVector, labels: map[string]bool{}}
	}
	if l.typ == vScalar || r.typ == vScalar {
		if setOp {
			c.fail("%s with a scalar", op)
		}
		if l.typ == vVector {
			return pval{typ: vVector, labels: l.labels}
		}
		return pval{typ: vVector, labels: r.labels}
	}
	// vector op vector
	for _, lab := range m.labels {
		switch {
		case m.on && !l.labels[lab]:
			c.fail("on (%s): the left side's labels are %s", lab, setString(l.labels))
		case m.on && !r.labels[lab]:
			c.fail("on (%s): the right side's labels are %s", lab, setString(r.labels))
		case m.ignoring && !l.labels[lab] && !r.labels[lab]:
			c.fail("ignoring (%s): neither side has it", lab)
		}
	}
	sig := func(v pval) map[string]bool {
		out := make(map[string]bool)
		for k := range v.labels {
			if m.on && slices.Contains(m.labels, k) || !m.on && !slices.Contains(m.labels, k) {
				out[k] = true
			}
		}
		return out
	}
	ls, rs := sig(l), sig(r)
	switch {
	case m.on:
	case setOp && op == "or":
	case m.group == "group_left":
		if !subset(rs, ls) {
			c.fail("%s group_left: the right side's labels %s are not all on the left %s", op, setString(rs), setString(ls))
		}
	case m.group == "group_right":
		if !subset(ls, rs) {
			c.fail("%s group_right: the left side's labels %s are not all on the right %s", op, setString(ls), setString(rs))
		}
	default:
		if !subset(ls, rs) || !subset(rs, ls) {
			c.fail("%s between series labelled %s and %s would match nothing: use on() or ignoring()", op, setString(ls), setString(rs))
		}
	}
	for _, lab := range m.include {
		one := r
		if m.group == "group_right" {
			one = l
		}
		if !one.labels[lab] {
			c.fail("%s(%s): the one side's labels are %s", m.group, lab, setString(one.labels))
		}
	}
	out := make(map[string]bool)
	switch {
	case op == "or":
		out = union(l.labels, r.labels)
	case setOp:
		out = l.labels
	case m.group == "group_left":
		out = union(l.labels, toSet(m.include))
	case m.group == "group_right":
		out = union(r.labels, toSet(m.include))
	case m.on:
		out = toSet(m.labels)
	default:
		for k := range l.labels {
			if !slices.Contains(m.labels, k) {
				out[k] = true
			}
		}
	}
	return pval{typ: vVector, labels: out}
}

func (c *promChecker) parseUnary() pval {
	if s := c.peek().s; c.peek().kind == "op" && (s == "-" || s == "+") {
		c.next()
		v := c.parseExpr(binPrec["^"] - 1) // unary binds looser than ^
		if v.typ != vScalar && v.typ != vVector {
			c.fail("unary %s of a %s", s, v.typ)
		}
		return pval{typ: v.typ, labels: v.labels}
	}
	return c.parsePostfix()
}

func (c *promChecker) parsePostfix() pval {
	v := c.parsePrimary()
	if c.peek().kind == "range" {
		t := c.next()
		rng, step, sub := strings.Cut(t.s, ":")
		if !durationRE.MatchString(strings.TrimSpace(rng)) || sub && step != "" && !durationRE.MatchString(strings.TrimSpace(step)) {
			c.fail("range [%s] is not a duration", t.s)
		}
		if v.typ != vVector {
			c.fail("range [%s] of a %s", t.s, v.typ)
		}
		v = pval{typ: vMatrix, labels: v.labels, counter: v.counter && !sub}
	}
	if c.peek().s == "offset" {
		c.next()
		neg := c.peek().s == "-"
		if neg {
			c.next()
		}
		if t := c.next(); !durationRE.MatchString(t.s + "") {
			c.fail("offset %q is not a duration", t.s)
		}
	}
	return v
}

func (c *promChecker) labelList() []string {
	c.expect("(")
	var out []string
	for c.peek().s != ")" && c.peek().kind != "eof" {
		t := c.next()
		if t.kind != "ident" {
			c.fail("want a label name at %d, got %q", t.pos, t.s)
		}
		out = append(out, t.s)
		if c.peek().s == "," {
			c.next()
		}
	}
	c.expect(")")
	return out
}

func (c *promChecker) parsePrimary() pval {
	t := c.peek()
	switch {
	case t.kind == "num":
		c.next()
		return pval{typ: vScalar}
	case t.kind == "str":
		c.next()
		return pval{typ: vString, str: t.s}
	case t.s == "(" && t.kind == "op":
		c.next()
		v := c.parseExpr(0)
		c.expect(")")
		return v
	case t.s == "{" && t.kind == "op":
		c.fail("a selector without a metric name at %d", t.pos)
		return c.selector("")
	case t.kind == "ident" && aggOps[t.s]:
		return c.aggregation()
	case t.kind == "ident" && c.toks[c.p+1].s == "(" && c.toks[c.p+1].kind == "op":
		return c.call()
	case t.kind == "ident":
		c.next()
		if t.s == "Inf" || t.s == "NaN" {
			return pval{typ: vScalar}
		}
		return c.selector(t.s)
	}
	c.fail("unexpected %q at %d", t.s, t.pos)
	c.next()
	return pval{typ: vVector, labels: map[string]bool{}}
}

func (c *promChecker) selector(name string) pval {
	s, ok := c.names[name]
	if !ok {
		c.fail("unknown metric %s", name)
	} else {
		c.used[s.family] = true
	}
	var eq []string
	if c.peek().s == "{" {
		c.next()
		for c.peek().s != "}" && c.peek().kind != "eof" {
			lab := c.next()
			op := c.next()
			val := c.next()
			if lab.kind != "ident" || op.kind != "op" || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.s) || val.kind != "str" {
				c.fail("bad matcher at %d", lab.pos)
				break
			}
			if ok && !s.labels[lab.s] && lab.s != "__name__" {
				c.fail("%s has no label %s (it has %s)", name, lab.s, setString(s.labels))
			}
			if op.s == "=" {
				eq = append(eq, lab.s)
			}
			if op.s == "=~" || op.s == "!~" {
				re := variableRE.ReplaceAllString(val.s, "x")
				if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
					c.fail("%s{%s%s%q}: %v", name, lab.s, op.s, val.s, err)
				}
			}
			if c.peek().s == "," {
				c.next()
			}
		}
		c.expect("}")
	}
	labels := make(map[string]bool)
	for k := range s.labels {
		labels[k] = true
	}
	return pval{typ: vVector, labels: labels, counter: s.kind == "counter", eqLabs: eq}
}

func (c *promChecker) args() []pval {
	c.expect("(")
	var out []pval
	for c.peek().s != ")" && c.peek().kind != "eof" {
		out = append(out, c.parseExpr(0))
		if c.peek().s == "," {
			c.next()
		} else {
			break
		}
	}
	c.expect(")")
	return out
}

func (c *promChecker) call() pval {
	fn := c.next().s
	args := c.args()
	want := func(n int, types ...vtype) bool {
		if len(args) < n || len(args) > len(types) {
			c.fail("%s: %d arguments", fn, len(args))
			return false
		}
		for i, a := range args {
			if a.typ != types[i] {
				c.fail("%s: argument %d is a %s, want a %s", fn, i+1, a.typ, types[i])
				return false
			}
		}
		return true
	}
	empty := pval{typ: vVector, labels: map[string]bool{}}
	if counter, ok := rangeFns[fn]; ok {
		if !want(1, vMatrix) {
			return empty
		}
		if counter && !args[0].counter {
			c.fail("%s of a gauge: use it on counters only", fn)
		}
		if fn == "absent_over_time" {
			return pval{typ: vVector, labels: toSet(args[0].eqLabs)}
		}
		return pval{typ: vVector, labels: args[0].labels}
	}
	switch {
	case fn == "quantile_over_time":
		if want(2, vScalar, vMatrix) {
			return pval{typ: vVector, labels: args[1].labels}
		}
	case fn == "histogram_quantile":
		if want(2, vScalar, vVector) {
			if !args[1].labels["le"] {
				c.fail("histogram_quantile of series without le (labels %s): keep le when aggregating", setString(args[1].labels))
			}
			out := make(map[string]bool)
			for k := range args[1].labels {
				if k != "le" {
					out[k] = true
				}
			}
			return pval{typ: vVector, labels: out}
		}
	case keepFns[fn]:
		types := []vtype{vVector, vScalar, vScalar}
		if want(1, types...) {
			return pval{typ: vVector, labels: args[0].labels}
		}
	case fn == "absent":
		if want(1, vVector) {
			return pval{typ: vVector, labels: toSet(args[0].eqLabs)}
		}
	case fn == "vector":
		want(1, vScalar)
	case fn == "scalar":
		want(1, vVector)
		return pval{typ: vScalar}
	case fn == "time":
		want(0)
		return pval{typ: vScalar}
	case fn == "label_replace":
		if want(5, vVector, vString, vString, vString, vString) {
			if src := args[3].str; src != "" && !args[0].labels[src] {
				c.fail("label_replace: source label %s is not in %s", src, setString(args[0].labels))
			}
			return pval{typ: vVector, labels: union(args[0].labels, map[string]bool{args[1].str: true})}
		}
	default:
		c.fail("function %s: not known to dashboard_test.go", fn)
	}
	return empty
}

func (c *promChecker) aggregation() pval {
	op := c.next().s
	var grouping []string
	without, grouped := false, false
	readGrouping := func() {
		if s := c.peek().s; s == "by" || s == "without" {
			c.next()
			without, grouped = s == "without", true
			grouping = c.labelList()
		}
	}
	readGrouping()
	args := c.args()
	if !grouped {
		readGrouping()
	}
	if op == "topk" || op == "bottomk" || op == "quantile" {
		if len(args) != 2 {
			c.fail("%s: want 2 arguments", op)
			return pval{typ: vVector, labels: map[string]bool{}}
		}
		if args[0].typ != vScalar {
			c.fail("%s: the first argument is a %s, want a scalar", op, args[0].typ)
		}
		args = args[1:]
	}
	if len(args) != 1 || args[0].typ != vVector {
		c.fail("%s: want one instant vector", op)
		return pval{typ: vVector, labels: map[string]bool{}}
	}
	in := args[0]
	for _, lab := range grouping {
		if !in.labels[lab] {
			c.fail("%s by/without (%s): %s is not in the labels %s", op, strings.Join(grouping, ", "), lab, setString(in.labels))
		}
	}
	out := make(map[string]bool)
	switch {
	case op == "topk" || op == "bottomk":
		out = in.labels
	case without:
		for k := range in.labels {
			if !slices.Contains(grouping, k) {
				out[k] = true
			}
		}
	default:
		out = toSet(grouping)
	}
	return pval{typ: vVector, labels: out}
}

func toSet(s []string) map[string]bool {
	out := make(map[string]bool)
	for _, v := range s {
		out[v] = true
	}
	return out
}

func union(a, b map[string]bool) map[string]bool {
	out := make(map[string]bool)
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func setString(s map[string]bool) string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return "{" + strings.Join(out, ", ") + "}"
}
