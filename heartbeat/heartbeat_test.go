package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestSilent(t *testing.T) {
	src := func(acct, region string, ago time.Duration) Source {
		return Source{Account: acct, Region: region, Last: now.Add(-ago)}
	}
	tests := []struct {
		name    string
		sources []Source
		after   time.Duration
		want    string
	}{
		{"nothing recorded: a new account never alarms", nil, 24 * time.Hour, "[]"},
		{"spoke an hour ago", []Source{src("111122223333", "us-east-1", time.Hour)}, 24 * time.Hour, "[]"},
		{"exactly at the limit is not yet silent", []Source{src("111122223333", "us-east-1", 24*time.Hour)}, 24 * time.Hour, "[]"},
		{"silent past the limit", []Source{src("111122223333", "us-east-1", 25*time.Hour)}, 24 * time.Hour, "[111122223333/us-east-1]"},
		{"only the silent region of an account", []Source{
			src("111122223333", "us-east-1", time.Minute), src("111122223333", "eu-west-1", 30*time.Hour),
		}, 24 * time.Hour, "[111122223333/eu-west-1]"},
		{"oldest first, configurable limit", []Source{
			src("444455556666", "eu-west-1", 3*time.Hour), src("111122223333", "us-east-1", 5*time.Hour), src("777788889999", "us-east-1", time.Hour),
		}, 2 * time.Hour, "[111122223333/us-east-1 444455556666/eu-west-1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range Silent(tt.sources, now, tt.after) {
				got = append(got, s.Account+"/"+s.Region)
			}
			if g := fmt.Sprint(got); g != tt.want && !(tt.want == "[]" && len(got) == 0) {
				t.Errorf("silent %v, want %s", got, tt.want)
			}
		})
	}
}

// fakeStore records calls beside the real store (TestStoreDynalite).
type fakeStore struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (f *fakeStore) Record(_ context.Context, account, region string, t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%s@%s", account, region, t.Format("15:04")))
	if f.fail {
		return errors.New("throttled")
	}
	return nil
}

func TestRecorderWritesAtMostEveryInterval(t *testing.T) {
	clock := now
	fs := &fakeStore{}
	r := &Recorder{Store: fs, Every: 5 * time.Minute, Now: func() time.Time { return clock }}
	ctx := context.Background()
	obs := func(acct, region string, latest time.Time) {
		if err := r.Observe(ctx, acct, region, latest); err != nil {
			t.Fatal(err)
		}
	}
	obs("111122223333", "us-east-1", now.Add(-time.Minute))
	obs("111122223333", "us-east-1", now)                   // within 5 minutes: no write
	obs("111122223333", "eu-west-1", now)                   // another source: written
	obs("", "us-east-1", now)                               // no account: ignored
	clock = now.Add(6 * time.Minute)                        // interval passed
	obs("111122223333", "us-east-1", now.Add(10*time.Hour)) // future date: clamped to the clock
	want := "[111122223333/us-east-1@11:59 111122223333/eu-west-1@12:00 111122223333/us-east-1@12:06]"
	if got := fmt.Sprint(fs.calls); got != want {
		t.Errorf("writes %s, want %s", got, want)
	}

	// A failed write is retried at the next observation.
	fs.fail, fs.calls = true, nil
	clock = clock.Add(10 * time.Minute)
	if err := r.Observe(ctx, "111122223333", "us-east-1", clock); err == nil {
		t.Error("failed write not reported")
	}
	fs.fail = false
	obs("111122223333", "us-east-1", clock)
	if len(fs.calls) != 2 {
		t.Errorf("writes after a failure: %v, want the failed one and its retry", fs.calls)
	}
}

func TestStoreDynalite(t *testing.T) {
	ep := testenv.Dynalite(t)
	client := baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const table = "heartbeat-test"
	if err := baselines.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	s := &Store{Client: client, Table: table}
	if got, err := s.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty table: %v %v", got, err)
	}
	steps := []struct {
		account, region string
		at              time.Time
	}{
		{"111122223333", "us-east-1", now.Add(-2 * time.Hour)},
		{"111122223333", "us-east-1", now.Add(-time.Hour)},
		{"111122223333", "us-east-1", now.Add(-3 * time.Hour)}, // older: no change
		{"111122223333", "us-east-1", now.Add(-time.Hour)},     // redelivery: no change, no error
		{"444455556666", "eu-west-1", now.Add(-30 * time.Hour)},
	}
	for _, st := range steps {
		if err := s.Record(ctx, st.account, st.region, st.at); err != nil {
			t.Fatalf("Record %+v: %v", st, err)
		}
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]time.Time{}
	for _, g := range got {
		byKey[g.Account+"/"+g.Region] = g.Last
	}
	if len(byKey) != 2 || !byKey["111122223333/us-east-1"].Equal(now.Add(-time.Hour)) || !byKey["444455556666/eu-west-1"].Equal(now.Add(-30*time.Hour)) {
		t.Errorf("heartbeats %v", byKey)
	}
	silent := Silent(got, now, 24*time.Hour)
	if len(silent) != 1 || silent[0].Account != "444455556666" {
		t.Errorf("silent %v, want 444455556666/eu-west-1", silent)
	}
	var _ DynamoDBAPI = (*dynamodb.Client)(nil)
}

// listStore serves fixed sources beside the real store.
type listStore struct {
	srcs  []Source
	calls int
	fail  bool
}

func (l *listStore) List(context.Context) ([]Source, error) {
	l.calls++
	if l.fail {
		return nil, errors.New("throttled")
	}
	return l.srcs, nil
}

func TestCheckerRateAndReport(t *testing.T) {
	clock := now
	ls := &listStore{srcs: []Source{
		{Account: "111122223333", Region: "us-east-1", Last: now.Add(-time.Hour)},
		{Account: "111122223333", Region: "ap-south-1", Last: now.Add(-30 * time.Hour)},
	}}
	c := &Checker{Store: ls, After: 24 * time.Hour, Every: 10 * time.Minute, Now: func() time.Time { return clock }}
	ctx := context.Background()
	r, ok, err := c.Check(ctx)
	if err != nil || !ok || r.Watched != 2 || len(r.Silent) != 1 || r.Silent[0].Region != "ap-south-1" {
		t.Fatalf("first check: %+v %v %v", r, ok, err)
	}
	clock = now.Add(5 * time.Minute)
	if _, ok, _ := c.Check(ctx); ok || ls.calls != 1 {
		t.Errorf("checked again within 10 minutes (ok %v, %d listings)", ok, ls.calls)
	}
	clock = now.Add(11 * time.Minute)
	ls.fail = true
	if _, ok, err := c.Check(ctx); ok || err == nil {
		t.Errorf("a failed listing: ok %v err %v", ok, err)
	}
	ls.fail = false
	if _, ok, err := c.Check(ctx); !ok || err != nil {
		t.Errorf("after a failure the next call checks: ok %v err %v", ok, err)
	}
}
