package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// fakeSSM serves one parameter whose value the test changes, and the
// parts of a split config (GetParameters).
type fakeSSM struct {
	mu    sync.Mutex
	name  string
	value string
	err   error
	calls int
	// parts are the other parameters, by name; partCalls counts
	// GetParameters calls.
	parts     map[string]string
	partCalls int
}

func (f *fakeSSM) GetParameters(_ context.Context, in *ssm.GetParametersInput, _ ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partCalls++
	if len(in.Names) > 10 {
		return nil, errors.New("ValidationException: at most 10 names")
	}
	out := &ssm.GetParametersOutput{}
	for _, n := range in.Names {
		if v, ok := f.parts[n]; ok && aws.ToBool(in.WithDecryption) {
			out.Parameters = append(out.Parameters, ssmtypes.Parameter{Name: aws.String(n), Value: aws.String(v)})
		} else {
			out.InvalidParameters = append(out.InvalidParameters, n)
		}
	}
	return out, nil
}

func (f *fakeSSM) set(v string) { f.mu.Lock(); f.value = v; f.mu.Unlock() }

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.Name) != f.name || !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("ParameterNotFound")
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: in.Name, Value: aws.String(f.value)}}, nil
}

func withSNSMin(sev string) string {
	return strings.Replace(string(config.DefaultYAML), "sns_min_severity: MEDIUM", "sns_min_severity: "+sev, 1)
}

func TestConfigReload(t *testing.T) {
	if !strings.Contains(string(config.DefaultYAML), "sns_min_severity: MEDIUM") {
		t.Fatal("embedded thresholds.yaml changed: update the test")
	}
	clock := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	api := &fakeSSM{name: "/trailwatch/thresholds", value: withSNSMin("MEDIUM")}
	out := &syncBuffer{}
	src := &configSource{
		client: api, name: api.name, ttl: time.Minute, now: func() time.Time { return clock },
		log: slog.New(slog.NewJSONHandler(out, nil)), metrics: &emf.Writer{W: out},
	}
	ctx := context.Background()
	get := func() *detectors.Config {
		t.Helper()
		cfg, err := src.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if cfg := get(); cfg.Routing.SNSMinSeverity != detectors.SeverityMedium {
		t.Fatalf("initial routing minimum %v", cfg.Routing.SNSMinSeverity)
	}

	// A good change applies after the TTL, not before.
	api.set(withSNSMin("HIGH"))
	clock = clock.Add(30 * time.Second)
	if cfg := get(); cfg.Routing.SNSMinSeverity != detectors.SeverityMedium || api.calls != 1 {
		t.Errorf("within the TTL: minimum %v after %d calls, want the cached MEDIUM after 1", cfg.Routing.SNSMinSeverity, api.calls)
	}
	clock = clock.Add(31 * time.Second)
	good := get()
	if good.Routing.SNSMinSeverity != detectors.SeverityHigh {
		t.Errorf("after the TTL: minimum %v, want HIGH", good.Routing.SNSMinSeverity)
	}

	// A bad change is rejected, counted without dimensions, and the
	// last good config stays.
	api.set(withSNSMin("SEVERE"))
	clock = clock.Add(time.Minute)
	if cfg := get(); cfg != good {
		t.Error("bad config replaced the last good one")
	}
	logs := out.String()
	if !strings.Contains(logs, `"ConfigReloadFailures":1`) || !strings.Contains(logs, `"Dimensions":[[]]`) || !strings.Contains(logs, "config rejected") {
		t.Errorf("no rejection log and dimensionless ConfigReloadFailures metric in:\n%s", logs)
	}

	// SSM unreachable: the current config is kept.
	api.err = errors.New("timeout")
	clock = clock.Add(time.Minute)
	if cfg := get(); cfg != good {
		t.Error("an SSM error replaced the config")
	}
}

func TestConfigColdStart(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC) }
	out := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(out, nil))

	// No parameter: embedded defaults, no SSM call.
	api := &fakeSSM{err: errors.New("must not be called")}
	src := &configSource{client: api, now: now, log: log}
	if cfg, err := src.Get(ctx); err != nil || cfg == nil || api.calls != 0 {
		t.Errorf("defaults: %v %v after %d calls", cfg, err, api.calls)
	}

	// Unreadable parameter and nothing loaded yet: an error (the batch
	// is retried).
	src = &configSource{client: api, name: "/p", ttl: time.Minute, now: now, log: log}
	if _, err := src.Get(ctx); err == nil {
		t.Error("unreadable parameter at cold start: no error")
	}

	// A bad parameter at cold start: defaults, counted.
	api = &fakeSSM{name: "/p", value: "routing: [\n"}
	src = &configSource{client: api, name: "/p", ttl: time.Minute, now: now, log: log, metrics: &emf.Writer{W: out}}
	if cfg, err := src.Get(ctx); err != nil || cfg.Routing.SNSMinSeverity != detectors.SeverityMedium {
		t.Errorf("bad parameter at cold start: %v", err)
	}
	if !strings.Contains(out.String(), `"ConfigReloadFailures":1`) {
		t.Error("bad parameter at cold start not counted")
	}
}

// TestConfigReloadAppliesToHandler: a reloaded routing minimum changes
// what is published, without a restart.
func TestConfigReloadAppliesToHandler(t *testing.T) {
	s := loadSample(t)
	clock := time.Now()
	api := &fakeSSM{name: "/p", value: withSNSMin("MEDIUM")}
	pub := &fakePublisher{}
	h, out := newTestHandler(baselines.NewMemory(), pub)
	h.configs = &configSource{client: api, name: "/p", ttl: time.Minute, now: func() time.Time { return clock },
		log: h.log, metrics: h.metrics}
	feedHistory(t, h, s)
	// Every detector in shadow mode: nothing is routed.
	api.set(strings.Replace(withSNSMin("CRITICAL"), "mode: alert", "mode: shadow", -1))
	clock = clock.Add(2 * time.Minute)
	n := len(pub.findings())
	invoke(t, h, attackBatch(s))
	if got := pub.findings()[n:]; len(got) != 0 {
		t.Errorf("shadow mode config published %d findings", len(got))
	}
	if !strings.Contains(out.String(), "config reloaded") {
		t.Error("no reload log")
	}
}

func TestEnvValidate(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "trailwatch", "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:findings"}
	lookup := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	s, err := readEnv(lookup(nil)).validate()
	if err != nil || s.configTTL != defaultConfigTTL || s.configName != "" {
		t.Errorf("minimal env: %+v %v", s, err)
	}
	s, err = readEnv(lookup(map[string]string{"CONFIG_TTL": "5m", "CONFIG_PARAMETER": "/tw/thresholds", "LOG_LEVEL": "debug"})).validate()
	if err != nil || s.configTTL != 5*time.Minute || s.logLevel != slog.LevelDebug {
		t.Errorf("full env: %+v %v", s, err)
	}
	for name, bad := range map[string]map[string]string{
		"no table":  {"TABLE_NAME": ""},
		"no topic":  {"TOPIC_ARN": ""},
		"bad ttl":   {"CONFIG_TTL": "soon"},
		"bad level": {"LOG_LEVEL": "LOUD"},
	} {
		if _, err := readEnv(lookup(bad)).validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestConfigConcurrentInvokes: with AWS_LAMBDA_MAX_CONCURRENCY several
// invokes share the source; run with -race.
func TestConfigConcurrentInvokes(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	api := &fakeSSM{name: "/p", value: withSNSMin("MEDIUM")}
	src := &configSource{client: api, name: "/p", ttl: time.Second, now: now,
		log: slog.New(slog.DiscardHandler), metrics: &emf.Writer{W: &syncBuffer{}}}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if j%10 == 0 {
					mu.Lock()
					clock = clock.Add(2 * time.Second)
					mu.Unlock()
					api.set(withSNSMin([]string{"MEDIUM", "HIGH", "BAD"}[(i+j)%3]))
				}
				if cfg, err := src.Get(context.Background()); err != nil || cfg == nil {
					t.Errorf("Get: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
