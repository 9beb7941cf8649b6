package detectors_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

const alice = "111122223333:user/alice"

var historyEnd = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC) // a Monday

func aliceHistory() dt.History {
	return dt.History{Profile: dt.Human, Principal: alice, End: historyEnd, Days: 60, PerDay: 40}
}

func fnHistory() dt.History {
	return dt.History{Profile: dt.Lambda, Principal: "111122223333:role/orders-fn", End: historyEnd, Days: 60, PerDay: 288}
}

// newEngine returns an engine over a memory store seeded with the
// histories' baselines.
func newEngine(t *testing.T, cfg *detectors.Config, hs ...dt.History) (*detectors.Engine, *baselines.Memory) {
	t.Helper()
	if cfg == nil {
		cfg = detectors.DefaultConfig()
	}
	if errs := cfg.Prepare(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	mem := baselines.NewMemory()
	for _, h := range hs {
		if err := dt.Seed(mem, h.Baseline()); err != nil {
			t.Fatal(err)
		}
	}
	return detectors.NewEngine(cfg, mem, nil), mem
}

func process(t *testing.T, e *detectors.Engine, evs ...events.Event) *detectors.Result {
	t.Helper()
	res, err := e.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > 0 {
		t.Fatalf("failed events: %v", res.Failed)
	}
	for _, u := range res.Updates {
		t.Logf("update kind=%d routed=%v %s %s score %.3f count %d: %s", u.Kind, u.Routed, u.Finding.Severity,
			u.Finding.Mode, u.Finding.Score, u.Finding.Count, u.Finding.Title)
	}
	return res
}

func at(day, hour, minute int) time.Time {
	return time.Date(2025, 3, day, hour, minute, 0, 0, time.UTC)
}

func signalScores(t *testing.T, f detectors.Finding) map[string]float64 {
	t.Helper()
	sigs, ok := f.Evidence["signals"].([]any)
	if !ok {
		t.Fatalf("evidence signals: %T", f.Evidence["signals"])
	}
	out := map[string]float64{}
	for _, x := range sigs {
		s := x.(map[string]any)
		out[s["subject"].(string)] = s["score"].(float64)
	}
	return out
}

func TestEngineWeakSignalsCombine(t *testing.T) {
	e, _ := newEngine(t, nil, aliceHistory())
	// Sunday 03:00, a network and an agent never seen, an API never called.
	ev := dt.Event(alice, "ec2:CreateSnapshot", at(16, 3, 10), dt.From("81.2.69.160"), dt.UA(dt.UABoto3))
	res := process(t, e, ev)
	if len(res.Updates) != 1 {
		t.Fatalf("got %d findings, want one", len(res.Updates))
	}
	f := res.Updates[0].Finding
	scores := signalScores(t, f)
	for _, want := range []string{"network:81.2.69.0/24", "user_agent:Boto3", "api:ec2:CreateSnapshot", "hour:Sun03"} {
		s, ok := scores[want]
		if !ok {
			t.Errorf("finding lacks signal %s (has %v)", want, scores)
			continue
		}
		if f.Score <= s {
			t.Errorf("finding score %.3f not above its signal %s (%.3f)", f.Score, want, s)
		}
	}
	if len(f.Reasons) < 4 {
		t.Errorf("reasons: %q", f.Reasons)
	}
}

func TestEngineDedupe(t *testing.T) {
	stop := func(i int) events.Event {
		return dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 5+10*i), dt.Params(`{"name":"org-trail"}`))
	}
	t.Run("separate batches", func(t *testing.T) {
		e, _ := newEngine(t, nil, aliceHistory())
		news := 0
		var last detectors.Finding
		ids := map[string]bool{}
		for i := 0; i < 5; i++ {
			res := process(t, e, stop(i))
			for _, u := range res.Updates {
				if u.Kind == detectors.UpdateNew {
					news++
				}
				ids[u.Finding.ID] = true
				last = u.Finding
			}
		}
		if news != 1 {
			t.Errorf("%d UpdateNew, want 1", news)
		}
		if len(ids) != 1 {
			t.Errorf("%d findings, want 1", len(ids))
		}
		if last.Count != 5 || len(last.EventIDs) != 5 {
			t.Errorf("count %d, event IDs %d, want 5", last.Count, len(last.EventIDs))
		}
		if !last.LastEventTime.Equal(stop(4).Time) {
			t.Errorf("last event time %v", last.LastEventTime)
		}
	})
	t.Run("one batch", func(t *testing.T) {
		e, _ := newEngine(t, nil, aliceHistory())
		var evs []events.Event
		for i := 0; i < 5; i++ {
			evs = append(evs, stop(i))
		}
		res := process(t, e, evs...)
		if len(res.Updates) != 1 || res.Updates[0].Finding.Count != 5 || res.Updates[0].Kind != detectors.UpdateNew {
			t.Fatalf("want one new finding with count 5, got %+v", res.Updates)
		}
	})
}

func TestEngineEscalation(t *testing.T) {
	t.Run("LOW reported, then strong signal", func(t *testing.T) {
		cfg := detectors.DefaultConfig()
		cfg.Routing.SNSMinSeverity = detectors.SeverityLow
		e, _ := newEngine(t, cfg, aliceHistory())
		res := process(t, e, dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.UA(dt.UABoto3)))
		if len(res.Updates) != 1 || res.Updates[0].Kind != detectors.UpdateNew || res.Updates[0].Finding.Severity != detectors.SeverityLow {
			t.Fatalf("want one new LOW finding, got %+v", res.Updates)
		}
		id := res.Updates[0].Finding.ID
		res = process(t, e, dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 20), dt.UA(dt.UABoto3)))
		if len(res.Updates) != 1 {
			t.Fatalf("want one update, got %d", len(res.Updates))
		}
		u := res.Updates[0]
		if u.Kind != detectors.UpdateEscalated || u.Finding.ID != id || u.Finding.Severity < detectors.SeverityHigh {
			t.Errorf("want the same finding escalated to HIGH+, got kind %d id %s (want %s) %s", u.Kind, u.Finding.ID, id, u.Finding.Severity)
		}
	})
	t.Run("default routing: MEDIUM then HIGH", func(t *testing.T) {
		e, _ := newEngine(t, nil, aliceHistory())
		// A new network alone, with her usual tool: MEDIUM for a
		// principal as steady as alice.
		res := process(t, e, dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.From(dt.IPForeign), dt.UA(dt.UACLI222)))
		if len(res.Updates) != 1 || res.Updates[0].Kind != detectors.UpdateNew || res.Updates[0].Finding.Severity != detectors.SeverityMedium {
			t.Fatalf("want one new MEDIUM finding, got %+v", res.Updates)
		}
		res = process(t, e, dt.Event(alice, "iam:CreateUser", at(10, 10, 5), dt.From(dt.IPForeign), dt.UA(dt.UACurl),
			dt.Params(`{"userName":"support-2"}`)))
		if len(res.Updates) != 1 || res.Updates[0].Kind != detectors.UpdateEscalated {
			t.Fatalf("want one escalation, got %+v", res.Updates)
		}
	})
	t.Run("LOW not reported: its escalation is new", func(t *testing.T) {
		// With the default routing minimum (MEDIUM) on-call never saw
		// the LOW finding, so its first routed version is UpdateNew.
		e, _ := newEngine(t, nil, aliceHistory())
		res := process(t, e, dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.UA(dt.UABoto3)))
		if len(res.Updates) != 1 || res.Updates[0].Routed {
			t.Fatalf("want one unrouted LOW finding, got %+v", res.Updates)
		}
		res = process(t, e, dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 20), dt.UA(dt.UABoto3)))
		if len(res.Updates) != 1 || res.Updates[0].Kind != detectors.UpdateNew || !res.Updates[0].Routed {
			t.Fatalf("want one routed new finding, got %+v", res.Updates)
		}
	})
}

// TestEngineSameSubjectEscalates: a burst that keeps growing must be able
// to reach the strength its detector gives it, not stay frozen at the
// score of the first window count that crossed the threshold.
func TestEngineSameSubjectEscalates(t *testing.T) {
	h := aliceHistory()
	e, _ := newEngine(t, nil, h)
	var evs []events.Event
	for i := 0; i < 60; i++ {
		evs = append(evs, dt.Event(alice, "iam:ListRoles", at(10, 10, 0).Add(time.Duration(i)*9*time.Second), dt.Err("AccessDenied")))
	}
	// What the detector alone says about the 60th denial.
	b := h.Baseline()
	cfg := detectors.DefaultConfig()
	var want float64
	for i := range evs {
		c := &detectors.Context{Baseline: b, Mature: b.Mature(cfg.Learning, evs[i].Time), Config: cfg, Name: "alice"}
		for _, s := range (detectors.ErrorBurst{}).Check(c, &evs[i]) {
			want = max(want, s.Score)
		}
		b.Observe(&evs[i], cfg.Forget)
	}
	res := process(t, e, evs...)
	for _, u := range res.Updates {
		if got, ok := signalScores(t, u.Finding)["errors:denied"]; ok {
			if got < want {
				t.Errorf("error-burst signal in the finding scores %.3f, the detector gives %.3f for the full burst", got, want)
			}
			return
		}
	}
	t.Fatal("no error-burst finding")
}

func TestEngineRedelivery(t *testing.T) {
	e, _ := newEngine(t, nil, aliceHistory())
	batch := []events.Event{
		dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("e1")),
		dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 1), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("e2")),
		dt.Event(alice, "iam:CreateUser", at(10, 10, 2), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("e3"), dt.Params(`{"userName":"x"}`)),
	}
	first := process(t, e, batch...)
	if len(first.Updates) == 0 {
		t.Fatal("no finding")
	}
	counts := map[string]int{}
	for _, u := range first.Updates {
		counts[u.Finding.ID] = u.Finding.Count
	}
	again := append([]events.Event(nil), batch...)
	second := process(t, e, again...)
	for _, u := range second.Updates {
		if u.Kind == detectors.UpdateNew || u.Kind == detectors.UpdateEscalated {
			t.Errorf("redelivery produced update kind %d: %s", u.Kind, u.Finding.Title)
		}
		if c, ok := counts[u.Finding.ID]; !ok {
			t.Errorf("redelivery produced a new finding %s", u.Finding.Title)
		} else if u.Finding.Count != c {
			t.Errorf("redelivery changed the count of %s: %d -> %d", u.Finding.Title, c, u.Finding.Count)
		}
	}
}

// TestEngineRedeliveryRate: SQS delivers at least once; a redelivered batch
// must not look like a burst.
func TestEngineRedeliveryRate(t *testing.T) {
	h := fnHistory()
	e, mem := newEngine(t, nil, h)
	var batch []events.Event
	for i := 0; i < 12; i++ {
		batch = append(batch, dt.Event(h.Principal, "dynamodb:PutItem", at(10, 10, 0).Add(time.Duration(i)*40*time.Second),
			dt.FromAWS("us-east-1", dt.IPAWS), dt.UA(dt.UAGoSDK), dt.Key("ASIAFNSESSION0000001")))
	}
	first := process(t, e, batch...)
	var before uint64
	mem.Each(func(st *detectors.State) { before = st.Baseline.Events })
	second := process(t, e, batch...)
	var after uint64
	mem.Each(func(st *detectors.State) { after = st.Baseline.Events })
	if len(second.Updates) > len(first.Updates) {
		t.Errorf("redelivery produced %d findings, the first delivery %d", len(second.Updates), len(first.Updates))
	}
	if after != before {
		t.Errorf("redelivery changed the event count %d -> %d", before, after)
	}
}

func TestEngineModes(t *testing.T) {
	stop := dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 0))
	t.Run("shadow", func(t *testing.T) {
		cfg := detectors.DefaultConfig()
		for id, dc := range cfg.Detectors {
			dc.Mode = detectors.ModeShadow
			cfg.Detectors[id] = dc
		}
		e, _ := newEngine(t, cfg, aliceHistory())
		res := process(t, e, stop)
		if len(res.Updates) == 0 {
			t.Fatal("shadow mode must still record findings")
		}
		for _, u := range res.Updates {
			if u.Finding.Mode != detectors.ModeShadow || u.Routed {
				t.Errorf("finding mode %s routed %v, want shadow and unrouted", u.Finding.Mode, u.Routed)
			}
		}
	})
	t.Run("one detector in shadow", func(t *testing.T) {
		cfg := detectors.DefaultConfig()
		dc := cfg.Detectors[detectors.IDHighRiskAction]
		dc.Mode = detectors.ModeShadow
		cfg.Detectors[detectors.IDHighRiskAction] = dc
		e, _ := newEngine(t, cfg, aliceHistory())
		res := process(t, e, stop)
		var shadow, alert int
		for _, u := range res.Updates {
			if u.Finding.Mode == detectors.ModeShadow {
				shadow++
				if u.Routed || u.Finding.Detector != detectors.IDHighRiskAction {
					t.Errorf("shadow finding %s routed %v", u.Finding.Detector, u.Routed)
				}
			} else {
				alert++
				if _, ok := signalScores(t, u.Finding)["action:cloudtrail:StopLogging"]; ok {
					t.Errorf("alert finding carries the shadow detector's signal")
				}
			}
		}
		if shadow != 1 || alert != 1 {
			t.Errorf("got %d shadow and %d alert findings, want 1 and 1 (first-seen stays in alert)", shadow, alert)
		}
	})
	t.Run("off", func(t *testing.T) {
		cfg := detectors.DefaultConfig()
		for id, dc := range cfg.Detectors {
			dc.Mode = detectors.ModeOff
			cfg.Detectors[id] = dc
		}
		e, _ := newEngine(t, cfg, aliceHistory())
		if res := process(t, e, stop); len(res.Updates) != 0 {
			t.Errorf("mode off: %d findings", len(res.Updates))
		}
	})
}

func TestEngineSuppressions(t *testing.T) {
	stop := dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 0))
	supp := func(expires string) *detectors.Config {
		cfg := detectors.DefaultConfig()
		cfg.Suppressions = []detectors.Suppression{{
			Name: "trail-migration", Principal: alice, API: "cloudtrail:*",
			Reason: "CHG-1234 trail migration", Expires: expires,
		}}
		return cfg
	}
	t.Run("active", func(t *testing.T) {
		e, _ := newEngine(t, supp("2025-03-31"), aliceHistory())
		res := process(t, e, stop)
		if len(res.Updates) != 0 {
			t.Errorf("suppressed signals produced %d findings", len(res.Updates))
		}
		if res.Suppressed["trail-migration"] == 0 {
			t.Errorf("Suppressed = %v", res.Suppressed)
		}
	})
	t.Run("expires the day of the event", func(t *testing.T) {
		e, _ := newEngine(t, supp("2025-03-10"), aliceHistory())
		if res := process(t, e, stop); len(res.Updates) != 0 || res.Suppressed["trail-migration"] == 0 {
			t.Errorf("an expiry date is inclusive: %d findings, suppressed %v", len(res.Updates), res.Suppressed)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e, _ := newEngine(t, supp("2025-03-09"), aliceHistory())
		res := process(t, e, stop)
		if len(res.Updates) == 0 {
			t.Error("an expired suppression still silences")
		}
		if len(res.Suppressed) != 0 {
			t.Errorf("Suppressed = %v", res.Suppressed)
		}
	})
	t.Run("other principal", func(t *testing.T) {
		cfg := supp("2025-03-31")
		cfg.Suppressions[0].Principal = "111122223333:user/bob"
		e, _ := newEngine(t, cfg, aliceHistory())
		if res := process(t, e, stop); len(res.Updates) == 0 {
			t.Error("a suppression for another principal silenced alice")
		}
	})
}

func TestEngineThresholds(t *testing.T) {
	// A new principal: no novelty signals, only the high-risk action (0.6).
	ev := dt.Event("111122223333:user/newbie", "iam:CreateUser", at(10, 10, 0), dt.Params(`{"userName":"x"}`))
	e, _ := newEngine(t, nil)
	if res := process(t, e, ev); len(res.Updates) != 1 {
		t.Fatalf("default threshold: %d findings, want 1", len(res.Updates))
	}
	cfg := detectors.DefaultConfig()
	dc := cfg.Detectors[detectors.IDHighRiskAction]
	dc.Threshold = 0.61
	cfg.Detectors[detectors.IDHighRiskAction] = dc
	e, _ = newEngine(t, cfg)
	if res := process(t, e, ev); len(res.Updates) != 0 {
		t.Errorf("threshold above the signal: %d findings", len(res.Updates))
	}
}

// TestEngineBenignSurprises: the benign cases that fool naive detectors,
// each as a whole batch through the engine with all detectors, produce no
// finding of MEDIUM or above.
func TestEngineBenignSurprises(t *testing.T) {
	ci := dt.History{Profile: dt.CI, Principal: "111122223333:role/github-deploy", End: historyEnd, Days: 60, PerDay: 60}
	shifted := aliceHistory()
	cases := []struct {
		name string
		h    *dt.History
		evs  func() []events.Event
	}{
		{"new employee", nil, func() []events.Event {
			var out []events.Event
			for i, api := range []string{"sts:GetCallerIdentity", "ec2:DescribeInstances", "iam:ListRoles", "s3:ListBuckets", "ssm:PutParameter"} {
				out = append(out, dt.Event("111122223333:user/newbie", api, at(10, 9+i, 0), dt.From(dt.IPHome), dt.UA(dt.UABoto3)))
			}
			return out
		}},
		{"CI deploys a new service", &ci, func() []events.Event {
			var out []events.Event
			// The job creates the stack; CloudFormation creates what
			// the template holds, on the role's behalf.
			for i, api := range []string{"cloudformation:CreateStack", "lambda:CreateFunction20150331", "iam:CreateRole", "lambda:AddPermission20150331v2"} {
				opts := []dt.Opt{dt.From(dt.IPCI), dt.UA(dt.UATerraform),
					dt.Params(`{"stackName":"orders","roleName":"fn","functionName":"fn","principal":"s3.amazonaws.com","sourceArn":"arn:aws:s3:::b","assumeRolePolicyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"lambda.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}"}`)}
				if i > 0 {
					opts = append(opts, dt.InvokedBy("cloudformation.amazonaws.com"))
				}
				out = append(out, dt.Event(ci.Principal, api, at(10, 14, i), opts...))
			}
			return out
		}},
		{"back from two weeks", ptr(aliceHistory()), func() []events.Event {
			var out []events.Event
			for i, api := range []string{"sts:GetCallerIdentity", "ec2:DescribeInstances", "ec2:StartInstances"} {
				out = append(out, dt.Event(alice, api, at(24, 9+i, 30)))
			}
			return out
		}},
		{"daylight saving", &shifted, func() []events.Event {
			var out []events.Event
			for d := 10; d < 15; d++ {
				for _, h := range []int{10, 14, 17} {
					out = append(out, dt.Event(alice, "ec2:DescribeInstances", at(d, h, 45)))
				}
			}
			return out
		}},
		{"Terraform run five times larger", &ci, func() []events.Event {
			var out []events.Event
			for i := 0; i < 150; i++ {
				out = append(out, dt.Event(ci.Principal, "ec2:CreateTags", at(10, 14, 0).Add(time.Duration(i)*3*time.Second),
					dt.From(dt.IPCI), dt.UA(dt.UATerraform)))
			}
			return out
		}},
		{"new laptop, same family", ptr(aliceHistory()), func() []events.Event {
			return []events.Event{dt.Event(alice, "s3:ListBuckets", at(10, 10, 0), dt.UA(dt.UACLI227), dt.From(dt.IPOffice2))}
		}},
		{"new agent family from the office", ptr(aliceHistory()), func() []events.Event {
			return []events.Event{dt.Event(alice, "s3:ListBuckets", at(10, 10, 0), dt.UA(dt.UABoto3))}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hs []dt.History
			if tc.h != nil {
				hs = append(hs, *tc.h)
			}
			e, _ := newEngine(t, nil, hs...)
			for _, u := range process(t, e, tc.evs()...).Updates {
				if u.Finding.Severity >= detectors.SeverityMedium || u.Routed {
					t.Errorf("%s finding (routed %v): %s", u.Finding.Severity, u.Routed, u.Finding.Title)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// bug skips a test that shows a known bug, unless TRAILWATCH_RUN_BUGS is
// set (to see it fail).
func bug(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("TRAILWATCH_RUN_BUGS") == "" {
		t.Skip("BUG: " + why)
	}
}
