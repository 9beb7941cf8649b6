// Package rulestest runs the example records of high-risk rules through
// the detection engine, the same code path as replay: each record is
// decoded as CloudTrail, selected and normalized as production would, and
// processed by an engine with the embedded in-memory store. A positive
// example must produce a finding whose high-risk signal names the rule; a
// negative one must not.
package rulestest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// ExampleDefaults are the fields an inline example record takes when it
// leaves them out: a successful, mutating API call by IAM user alice of
// account 111122223333, from a public address, in us-east-1.
func ExampleDefaults() map[string]any {
	return map[string]any{
		"eventVersion":       "1.11",
		"eventTime":          "2025-03-10T10:15:00Z",
		"eventType":          "AwsApiCall",
		"awsRegion":          "us-east-1",
		"sourceIPAddress":    "198.51.100.7",
		"userAgent":          "aws-cli/2.22.0 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe",
		"readOnly":           false,
		"managementEvent":    true,
		"recipientAccountId": "111122223333",
		"userIdentity": map[string]any{
			"type":        "IAMUser",
			"principalId": "AIDAEXAMPLEALICE",
			"arn":         "arn:aws:iam::111122223333:user/alice",
			"accountId":   "111122223333",
			"accessKeyId": "AKIAEXAMPLEALICE0001",
			"userName":    "alice",
		},
	}
}

// Mismatch is one example whose outcome differs from what it expects.
type Mismatch struct {
	Rule     string
	Source   string
	Line     int
	Positive bool
	Index    int
	Problem  string
}

func (m Mismatch) String() string {
	kind := "negative"
	if m.Positive {
		kind = "positive"
	}
	where := m.Source
	if m.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, m.Line)
	}
	return fmt.Sprintf("%s: rule %s: %s example %d: %s", where, m.Rule, kind, m.Index+1, m.Problem)
}

// Result sums up a run.
type Result struct {
	Rules      int // enabled rules whose examples ran
	Disabled   int
	Examples   int
	Mismatches []Mismatch
}

// Run runs the examples of every enabled rule of cfg.Rules (the built-in
// catalog when nil) that only accepts (every one when only is nil). Example files are read relative to the directory of
// the rule's source. The high-risk detector runs in alert mode with no
// threshold and no suppressions, so an example tests its rule only.
func Run(ctx context.Context, cfg *detectors.Config, only func(*detectors.Rule) bool) (*Result, error) {
	set := cfg.Rules
	if set == nil {
		set = detectors.DefaultRules()
	}
	run := *cfg
	run.Detectors = maps.Clone(cfg.Detectors)
	if run.Detectors == nil {
		run.Detectors = map[string]detectors.DetectorConfig{}
	}
	dc := run.Detector(detectors.IDHighRiskAction)
	dc.Mode, dc.Threshold = detectors.ModeAlert, 0
	run.Detectors[detectors.IDHighRiskAction] = dc
	run.Suppressions = nil
	run.Rules = set

	res := &Result{}
	for _, r := range set.Rules() {
		if only != nil && !only(&r) {
			continue
		}
		if !r.On() {
			res.Disabled++
			continue
		}
		res.Rules++
		for _, pos := range []bool{true, false} {
			list := r.Examples.Negative
			if pos {
				list = r.Examples.Positive
			}
			for i, ex := range list {
				res.Examples++
				mm := Mismatch{Rule: r.ID, Source: r.Source, Line: ex.Line, Positive: pos, Index: i}
				got, err := fired(ctx, &run, &r, ex, fmt.Sprintf("example-%s-%t-%d", r.ID, pos, i))
				switch {
				case err != nil:
					mm.Problem = err.Error()
				case pos && got != r.ID:
					mm.Problem = "did not fire (" + describe(got) + ")"
				case !pos && got == r.ID:
					mm.Problem = "fired"
				default:
					continue
				}
				res.Mismatches = append(res.Mismatches, mm)
			}
		}
	}
	return res, nil
}

func describe(got string) string {
	if got == "" {
		return "no high-risk signal"
	}
	return "rule " + got + " judged it"
}

// fired processes one example and returns the id of the rule whose
// high-risk signal the resulting finding carries, or "".
func fired(ctx context.Context, cfg *detectors.Config, r *detectors.Rule, ex detectors.Example, id string) (string, error) {
	raw, err := exampleJSON(r, ex, id)
	if err != nil {
		return "", err
	}
	var recs []*events.Record
	d := events.Decoder{Record: func(rec *events.Record) { recs = append(recs, rec) }}
	if err := d.Decode(bytes.NewReader(raw)); err != nil {
		return "", fmt.Errorf("decode: %w", err)
	}
	if len(recs) != 1 {
		return "", fmt.Errorf("not one CloudTrail record (%d decoded)", len(recs))
	}
	n := &events.Normalizer{Keying: cfg.Keying}
	ev, err := n.NormalizeSelected(recs[0])
	if err != nil {
		// Production would never see it: nothing fires.
		return "", nil
	}
	eng := detectors.NewEngine(cfg, baselines.NewMemory(), nil)
	eng.Clock = func() time.Time { return ev.Time.Add(time.Minute) }
	out, err := eng.Process(ctx, []events.Event{ev})
	if err != nil {
		return "", fmt.Errorf("process: %w", err)
	}
	for _, u := range out.Updates {
		sigs, _ := u.Finding.Evidence["signals"].([]any)
		for _, s := range sigs {
			m, _ := s.(map[string]any)
			if m["detector"] == detectors.IDHighRiskAction {
				rule, _ := m["rule"].(string)
				return rule, nil
			}
		}
	}
	return "", nil
}

// exampleJSON is the example as one CloudTrail record: the inline record
// over ExampleDefaults, or the file's record as written (a CloudTrail
// record, or an EventBridge envelope).
func exampleJSON(r *detectors.Rule, ex detectors.Example, id string) ([]byte, error) {
	if ex.File != "" {
		dir := "."
		if src := r.Source; src != "" && !strings.HasPrefix(src, "builtin:") {
			dir = filepath.Dir(src)
		}
		p := ex.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("example file: %w", err)
		}
		// One record per file, pretty-printed or not: as one JSON line.
		var line bytes.Buffer
		if err := json.Compact(&line, b); err != nil {
			return nil, fmt.Errorf("example file %s: %w", ex.File, err)
		}
		return line.Bytes(), nil
	}
	rec := ExampleDefaults()
	rec["eventID"] = id
	for k, v := range ex.Record {
		rec[k] = v
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("example record: %w", err)
	}
	return b, nil
}
