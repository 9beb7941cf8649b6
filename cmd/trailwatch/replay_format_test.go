package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// TestReplayFormats runs the sample once per output format and checks that
// text and ocsf carry the same findings as json: the text report is
// render.Text of them (the e-mail rendering), and every OCSF line is a
// Detection Finding whose finding_info.uid is a finding ID.
func TestReplayFormats(t *testing.T) {
	out, stderr, err := replay(t, "--quiet", samplePath)
	if err != nil {
		t.Fatalf("replay json: %v\n%s", err, stderr)
	}
	var fs []detectors.Finding
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f detectors.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("json line: %v", err)
		}
		fs = append(fs, f)
	}

	text, stderr, err := replay(t, "--quiet", "--format", "text", samplePath)
	if err != nil {
		t.Fatalf("replay text: %v\n%s", err, stderr)
	}
	var want strings.Builder
	if err := render.Text(&want, fs); err != nil {
		t.Fatal(err)
	}
	if text != want.String() {
		t.Errorf("text output is not render.Text of the JSON findings:\n%s", diffLines(want.String(), text))
	}

	ocsf, stderr, err := replay(t, "--quiet", "--format", "ocsf", samplePath)
	if err != nil {
		t.Fatalf("replay ocsf: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(ocsf), "\n")
	if len(lines) != len(fs) {
		t.Fatalf("ocsf printed %d lines, json %d findings", len(lines), len(fs))
	}
	for i, line := range lines {
		var o render.OCSFFinding
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("ocsf line %d: %v", i, err)
		}
		if o.ClassUID != 2004 || o.CategoryUID != 2 || o.TypeUID != 200401 || o.FindingInfo.UID != fs[i].ID || o.Time != fs[i].LastEventTime.UnixMilli() {
			t.Errorf("ocsf line %d: class %d category %d type %d uid %q time %d; want 2004/2/200401 %q %d",
				i, o.ClassUID, o.CategoryUID, o.TypeUID, o.FindingInfo.UID, o.Time, fs[i].ID, fs[i].LastEventTime.UnixMilli())
		}
	}

	if _, _, err := replay(t, "--format", "yaml", samplePath); err == nil || !strings.Contains(err.Error(), "json, text or ocsf") {
		t.Errorf("--format yaml: err %v, want a usage error naming the formats", err)
	}
}
