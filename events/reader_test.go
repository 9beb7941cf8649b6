package events_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/sample"
)

func readAll(t *testing.T, rd *events.Reader, paths ...string) []events.Event {
	t.Helper()
	var err error
	var out []events.Event
	for ev := range rd.Events(paths, &err) {
		out = append(out, ev)
	}
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return out
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// TestSameRecordsSameOrder packages one week of generated CloudTrail three
// ways (JSON Lines, the CloudTrail S3 archive layout with unsorted files and
// late deliveries, EventBridge envelopes) and checks that the reader yields
// the same events in the same order from each.
func TestSameRecordsSameOrder(t *testing.T) {
	cfg := sample.DefaultConfig()
	cfg.End = cfg.Start.Add(7 * 24 * time.Hour)
	cfg.NoScenarios = true
	ds, err := sample.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var jsonl, eb bytes.Buffer
	if err := sample.WriteJSONL(&jsonl, ds.Records); err != nil {
		t.Fatal(err)
	}
	if err := sample.WriteEventBridge(&eb, ds.Records, 1); err != nil {
		t.Fatal(err)
	}
	// Shuffle the JSON Lines: order must come from eventTime, not the file.
	lines := strings.SplitAfter(strings.TrimSuffix(jsonl.String(), "\n"), "\n")
	slices.Reverse(lines)
	jsonlPath := filepath.Join(dir, "records.jsonl")
	writeFile(t, jsonlPath, []byte(strings.Join(lines, "\n")+"\n"))
	ebPath := filepath.Join(dir, "eventbridge.jsonl")
	writeFile(t, ebPath, eb.Bytes())
	s3Dir := filepath.Join(dir, "archive")
	if err := sample.WriteS3(s3Dir, ds.Records, 1); err != nil {
		t.Fatal(err)
	}

	norm := &events.Normalizer{Keying: events.DefaultKeyingRules()}
	// A window larger than the reversed file: exact order.
	fromJSONL := readAll(t, &events.Reader{Normalizer: norm, All: true, Window: len(ds.Records) + 1}, jsonlPath)
	fromEB := readAll(t, &events.Reader{Normalizer: norm, All: true, Window: len(ds.Records) + 1}, ebPath)
	fromS3 := readAll(t, &events.Reader{Normalizer: norm, All: true}, s3Dir)
	if len(fromJSONL) != len(ds.Records) {
		t.Fatalf("jsonl: %d events, want %d", len(fromJSONL), len(ds.Records))
	}
	for i := 1; i < len(fromJSONL); i++ {
		if fromJSONL[i].Time.Before(fromJSONL[i-1].Time) {
			t.Fatalf("event %d out of time order", i)
		}
	}
	if !slices.Equal(ids(fromJSONL), ids(fromEB)) {
		t.Error("EventBridge envelopes give another order than JSON Lines")
	}
	if !slices.Equal(ids(fromJSONL), ids(fromS3)) {
		t.Error("the S3 archive gives another order than JSON Lines")
	}
}

// TestDirectoryWithBadFiles: a corrupt gzip, a truncated line, a record
// without eventTime and a binary file each count a skip; the rest is read.
func TestDirectoryWithBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := `{"eventTime":"2026-10-05T14:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"eventType":"AwsApiCall","eventID":"e1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","userName":"alice","accountId":"111122223333"}}`
	good2 := strings.Replace(strings.Replace(good, `"e1"`, `"e2"`, 1), "14:00", "15:00", 1)
	noTime := strings.Replace(strings.Replace(good, `"eventTime":"2026-10-05T14:00:00Z",`, "", 1), `"e1"`, `"e3"`, 1)
	writeFile(t, filepath.Join(dir, "a.jsonl"), []byte(good+"\n"+good2[:50]+"\n"+noTime+"\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(good2 + "\n"))
	zw.Close()
	writeFile(t, filepath.Join(dir, "sub", "b.json.gz"), gz.Bytes())
	writeFile(t, filepath.Join(dir, "sub", "c.json.gz"), gz.Bytes()[:gz.Len()/2])
	writeFile(t, filepath.Join(dir, "logo.png"), []byte("\x89PNG\r\n\x1a\n\x00\x00binary"))

	rd := &events.Reader{Normalizer: &events.Normalizer{}, All: true}
	evs := readAll(t, rd, dir)
	if got := ids(evs); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Errorf("events = %v, want [e1 e2]", got)
	}
	skips := rd.Stats.Skips()
	want := map[events.SkipReason]int64{events.SkipMalformed: 1, events.SkipNoTime: 1, events.SkipCorruptGzip: 1, events.SkipBinary: 1}
	for r, n := range want {
		if skips[r] != n {
			t.Errorf("skips[%s] = %d, want %d (all: %v)", r, skips[r], n, skips)
		}
	}
}

func TestStdinAndSelection(t *testing.T) {
	in := `{"eventTime":"2026-10-05T14:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","readOnly":true,"eventID":"r","userIdentity":{"type":"Root","accountId":"1"}}
{"eventTime":"2026-10-05T14:00:01Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","readOnly":true,"errorCode":"AccessDenied","eventID":"d","userIdentity":{"type":"Root","accountId":"1"}}
{"eventTime":"2026-10-05T14:00:02Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"eventID":"w","userIdentity":{"type":"Root","accountId":"1"}}
`
	rd := &events.Reader{Normalizer: &events.Normalizer{}, Stdin: strings.NewReader(in)}
	evs := readAll(t, rd, "-")
	if got := ids(evs); !slices.Equal(got, []string{"d", "w"}) {
		t.Errorf("selected = %v, want [d w]", got)
	}
	if n := rd.Stats.Skips()[events.SkipNotSelected]; n != 1 {
		t.Errorf("not_selected = %d, want 1", n)
	}
}

func TestCheckPaths(t *testing.T) {
	if err := events.CheckPaths([]string{"-", t.TempDir()}); err != nil {
		t.Errorf("CheckPaths: %v", err)
	}
	err := events.CheckPaths([]string{filepath.Join(t.TempDir(), "missing.json")})
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing path: err = %v", err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
