package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/configparam"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
)

const (
	customRuleEvents = "../../testdata/rules/custom-rule.jsonl"
	largeRules       = "../../testdata/rules/large-rules.yaml"
	// deployedParams is what the CDK app synthesizes for large-rules.yaml
	// (infra/internal/thresholds TestSplitParametersFile).
	deployedParams = "../../testdata/rules/deployed-parameters.json"
)

// deployedParameters reads the parameters the CDK app deploys for
// large-rules.yaml: the config parameter's name and every value by name.
func deployedParameters(t *testing.T) (string, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(deployedParams)
	if err != nil {
		t.Fatalf("%v: generate it with `cd infra && go test ./internal/thresholds -run TestSplitParametersFile -update`", err)
	}
	var f struct {
		Parameter string            `json:"parameter"`
		Values    map[string]string `json:"values"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Parameter, f.Values
}

// splitConfig writes doc as the manifest and parts the CDK app would,
// with parts of size bytes (the reader does not care how large).
func splitConfig(t *testing.T, doc string, size int, prefix string) (string, map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(doc))
	zw.Close()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	parts := map[string]string{}
	sum := sha256.Sum256([]byte(doc))
	m := configparam.ManifestFormat + "\nsha256: " + hex.EncodeToString(sum[:]) + "\nencoding: gzip+base64\nparts:\n"
	for i := 0; len(enc) > 0; i++ {
		n := min(size, len(enc))
		name := fmt.Sprintf("%s-part-%02d", prefix, i)
		parts[name] = enc[:n]
		enc = enc[n:]
		m += "  - \"" + name + "\"\n"
	}
	return m, parts
}

func hasRule(cfg *detectors.Config, id string) bool {
	if cfg.Rules == nil {
		return false
	}
	for _, r := range cfg.Rules.Rules() {
		if r.ID == id && r.On() {
			return true
		}
	}
	return false
}

// TestConfigFromDeployedParts: the parameters the CDK app deploys for a
// config larger than a parameter holds are read back to that config.
func TestConfigFromDeployedParts(t *testing.T) {
	name, values := deployedParameters(t)
	api := &fakeSSM{name: name, value: values[name], parts: values}
	src := &configSource{client: api, name: name, ttl: time.Minute, now: time.Now,
		log: discardLog(), metrics: &emf.Writer{W: &syncBuffer{}}}
	cfg, err := src.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !hasRule(cfg, "ssm-put-production-secret") || !hasRule(cfg, "secretsmanager-delete-audit-secret") {
		t.Error("the user rules of large-rules.yaml are not in the config read from its parts")
	}
	if api.partCalls == 0 {
		t.Error("the parts were not read")
	}
}

// TestConfigParts: a split config is read ten parts a call; a reload
// follows a new manifest; parts that do not match the manifest's digest
// (a deployment between its updates) keep the last good config, and fail
// a cold start so the batch is retried.
func TestConfigParts(t *testing.T) {
	doc, err := os.ReadFile(largeRules)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	manifest, parts := splitConfig(t, string(doc), 60, "v1") // 20+ parts
	if len(parts) <= 20 {
		t.Fatalf("%d parts; the test wants more than two calls' worth", len(parts))
	}
	api := &fakeSSM{name: "/p", value: manifest, parts: parts}
	out := &syncBuffer{}
	src := &configSource{client: api, name: "/p", ttl: time.Minute, now: func() time.Time { return clock },
		log: discardLog(), metrics: &emf.Writer{W: out}}
	ctx := context.Background()
	cfg, err := src.Get(ctx)
	if err != nil || !hasRule(cfg, "ssm-put-production-secret") {
		t.Fatalf("split config: %v", err)
	}
	if want := (len(parts) + 9) / 10; api.partCalls != want {
		t.Errorf("%d GetParameters calls for %d parts, want %d", api.partCalls, len(parts), want)
	}
	// Same manifest after the TTL: the parts are not read again.
	clock = clock.Add(2 * time.Minute)
	calls := api.partCalls
	if again, _ := src.Get(ctx); again != cfg || api.partCalls != calls {
		t.Error("an unchanged manifest was read again")
	}

	// A new version whose parts are updated but whose manifest is not
	// yet: the digest does not match, the last good config stays.
	doc2 := strings.Replace(string(doc), "base_score: 0.8", "base_score: 0.9", 1)
	_, parts2 := splitConfig(t, doc2, 60, "v1")
	api.mu.Lock()
	api.parts = parts2
	api.mu.Unlock()
	api.set(manifest + "# touched\n")
	clock = clock.Add(2 * time.Minute)
	if got, err := src.Get(ctx); err != nil || got != cfg {
		t.Errorf("mismatched parts replaced the config: %v", err)
	}
	// Then the manifest: the new config applies.
	manifest2, _ := splitConfig(t, doc2, 60, "v1")
	api.set(manifest2)
	clock = clock.Add(2 * time.Minute)
	got, err := src.Get(ctx)
	if err != nil || got == cfg {
		t.Fatalf("the new manifest did not reload: %v", err)
	}
	for _, r := range got.Rules.Rules() {
		if r.ID == "ssm-put-production-secret" && r.BaseScore != 0.9 {
			t.Errorf("reloaded base score %v", r.BaseScore)
		}
	}

	// Cold start on mismatched parts: an error, not the defaults.
	cold := &configSource{client: &fakeSSM{name: "/p", value: manifest, parts: parts2}, name: "/p", ttl: time.Minute,
		now: func() time.Time { return clock }, log: discardLog(), metrics: &emf.Writer{W: out}}
	if _, err := cold.Get(ctx); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("cold start on mismatched parts: %v", err)
	}
	// A manifest that can never be read is a rejected config: the
	// embedded defaults at a cold start, counted.
	before := strings.Count(out.String(), `"ConfigReloadFailures":1`)
	cold = &configSource{client: &fakeSSM{name: "/p", value: strings.Replace(manifest, "encoding: gzip+base64", "encoding: zstd", 1), parts: parts}, name: "/p", ttl: time.Minute,
		now: func() time.Time { return clock }, log: discardLog(), metrics: &emf.Writer{W: out}}
	if cfg, err := cold.Get(ctx); err != nil || cfg.Rules != nil {
		t.Errorf("unreadable manifest at cold start: %v; want the embedded defaults", err)
	}
	if strings.Count(out.String(), `"ConfigReloadFailures":1`) != before+1 {
		t.Error("unreadable manifest not counted in ConfigReloadFailures")
	}
	// A part missing: an error too.
	delete(parts, "v1-part-03")
	cold = &configSource{client: &fakeSSM{name: "/p", value: manifest, parts: parts}, name: "/p", ttl: time.Minute,
		now: func() time.Time { return clock }, log: discardLog(), metrics: &emf.Writer{W: out}}
	if _, err := cold.Get(ctx); err == nil || !strings.Contains(err.Error(), "v1-part-03") {
		t.Errorf("cold start with a part missing: %v", err)
	}
}

// customRuleBatch is the SQS batch of custom-rule.jsonl: a production
// secret written (the rule's case) and a development one (its twin).
func customRuleBatch(t *testing.T, at time.Time) lambdaevents.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile(customRuleEvents)
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.SQSEvent
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		line = bytes.Replace(line, []byte(`"2025-03-10T10:1`), []byte(`"`+at.Format("2006-01-02T15:0")), 1)
		ev.Records = append(ev.Records, lambdatest.SQSMessage(fmt.Sprintf("custom-%d", i), lambdatest.Envelope(line), "trailwatch-events"))
	}
	return ev
}

// TestHandlerCustomRuleFromConfig: a rule given only by the deployed
// config (split over parameters as the CDK app deploys it) fires in the
// detect function on its case and not on its twin; under the built-in
// catalog neither fires.
func TestHandlerCustomRuleFromConfig(t *testing.T) {
	name, values := deployedParameters(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)
	for _, tc := range []struct {
		name   string
		config bool
		want   int
	}{
		{"deployed config", true, 1},
		{"built-in catalog", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			h, _ := newTestHandler(baselines.NewMemory(), pub)
			if tc.config {
				h.configs = &configSource{client: &fakeSSM{name: name, value: values[name], parts: values}, name: name,
					ttl: time.Minute, now: time.Now, log: h.log, metrics: h.metrics}
			}
			invoke(t, h, customRuleBatch(t, at))
			fs := pub.findings()
			if len(fs) != tc.want {
				t.Fatalf("%d findings published, want %d: %+v", len(fs), tc.want, fs)
			}
			for _, f := range fs {
				sigs, _ := f.Evidence["signals"].([]any)
				if f.Severity != detectors.SeverityHigh || len(f.EventIDs) != 1 || f.EventIDs[0] != "0f5a1c2e-custom-rule-positive" ||
					len(sigs) == 0 || sigs[0].(map[string]any)["rule"] != "ssm-put-production-secret" {
					t.Errorf("finding %s %v %v %v", f.Severity, f.EventIDs, f.Title, sigs)
				}
			}
		})
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
