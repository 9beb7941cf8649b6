package main

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/heartbeat"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// TestHeartbeatsRecorded: a batch records, per account and region, its
// latest event in the table (dynalite); a redelivered batch changes no
// heartbeat.
func TestHeartbeatsRecorded(t *testing.T) {
	ep := testenv.Dynalite(t)
	client := baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, ep)
	ctx := context.Background()
	const table = "detect-heartbeat-test"
	if err := baselines.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	store := &heartbeat.Store{Client: client, Table: table}
	s := loadSample(t)
	h, _ := newTestHandler(baselines.NewMemory(), &fakePublisher{})
	h.heartbeats = &heartbeat.Recorder{Store: store, Every: time.Nanosecond}

	list := func() string {
		t.Helper()
		srcs, err := store.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, src := range srcs {
			out = append(out, src.Account+"/"+src.Region+"@"+src.Last.Format(time.RFC3339))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	batch := sqsBatches("hb", s.attack, 100)[0]
	invoke(t, h, batch)
	first := list()
	if !strings.Contains(first, "111122223333/us-east-1@2026-") {
		t.Fatalf("heartbeats after the attack batch: %q, want 111122223333/us-east-1", first)
	}
	invoke(t, h, batch)
	if again := list(); again != first {
		t.Errorf("redelivery changed the heartbeats:\n%s\n%s", first, again)
	}
}

// failingObserver fails every write.
type failingObserver struct {
	mu    sync.Mutex
	calls int
}

func (f *failingObserver) Observe(context.Context, string, string, time.Time) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return errors.New("throttled")
}

// TestHeartbeatFailureNeverFailsEvents: a heartbeat that cannot be written
// is logged; the batch succeeds.
func TestHeartbeatFailureNeverFailsEvents(t *testing.T) {
	s := loadSample(t)
	h, out := newTestHandler(baselines.NewMemory(), &fakePublisher{})
	obs := &failingObserver{}
	h.heartbeats = obs
	resp := invoke(t, h, sqsBatches("hb", s.attack, 100)[0])
	if len(resp.BatchItemFailures) != 0 || obs.calls == 0 {
		t.Errorf("failures %v, heartbeat calls %d", resp.BatchItemFailures, obs.calls)
	}
	if !strings.Contains(out.String(), "heartbeat not recorded") {
		t.Errorf("no log of the failed heartbeat:\n%.2000s", out.String())
	}
}

// TestSilenceReported: the check after a batch counts an account and
// region silent past SILENT_HOURS (logged by name, metric SilentSources),
// not the ones that spoke, and writes HeartbeatChecks.
func TestSilenceReported(t *testing.T) {
	ep := testenv.Dynalite(t)
	client := baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, ep)
	ctx := context.Background()
	const table = "detect-silence-test"
	if err := baselines.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	store := &heartbeat.Store{Client: client, Table: table}
	now := time.Now()
	if err := store.Record(ctx, "999988887777", "ap-south-1", now.Add(-30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.Record(ctx, "999988887777", "eu-west-1", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, err := readEnv(func(k string) string {
		return map[string]string{"TABLE_NAME": table, "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t", "SILENT_HOURS": "6"}[k]
	}).validate()
	if err != nil {
		t.Fatal(err)
	}
	h, out := newTestHandler(baselines.NewMemory(), &fakePublisher{})
	h.silence = &heartbeat.Checker{Store: store, After: s.silentAfter}
	invoke(t, h, sqsBatches("sil", loadSample(t).attack, 100)[0])
	logs := out.String()
	if !strings.Contains(logs, `"SilentSources":1`) || !strings.Contains(logs, `"HeartbeatChecks":1`) || !strings.Contains(logs, `"WatchedSources":2`) {
		t.Errorf("heartbeat metrics missing or wrong:\n%.3000s", logs)
	}
	if !strings.Contains(logs, `"account":"999988887777","region":"ap-south-1"`) || strings.Contains(logs, `"region":"eu-west-1","last_event"`) {
		t.Errorf("silent sources logged wrongly:\n%.3000s", logs)
	}
	for _, bad := range []string{"0", "25", "x"} {
		if _, err := readEnv(func(k string) string {
			return map[string]string{"TABLE_NAME": table, "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t", "SILENT_HOURS": bad}[k]
		}).validate(); err == nil || !strings.Contains(err.Error(), "SILENT_HOURS") {
			t.Errorf("SILENT_HOURS=%s: err %v", bad, err)
		}
	}
}
