package baselines

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// TestDynamoDBConcurrentWriters runs 8 engines, each with its own store
// (as 8 Lambda instances would), over one table and one principal.
func TestDynamoDBConcurrentWriters(t *testing.T) {
	const (
		writers   = 8
		perWriter = 500
		batchSize = 25
		principal = "111111111111:role/deployer"
	)
	c, _ := newTable(t)
	ctx := context.Background()
	cfg := config.Default()
	routine := []string{"s3:PutObject", "ec2:RunInstances", "lambda:UpdateFunctionCode", "ecs:UpdateService"}

	// Pre-train the principal for 30 days so that novelty is scored.
	var history []events.Event
	start := t0.Add(-30 * 24 * time.Hour)
	for d := range 30 {
		for i := range 8 {
			at := start.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*17*time.Minute)
			history = append(history, ev("deployer", routine[i%len(routine)], at, fmt.Sprintf("h-%d-%d", d, i)))
		}
	}
	for i := range history {
		history[i].Principal = principal
	}
	pre := detectors.NewEngine(cfg, NewDynamoDB(c, testTable, nil), nil)
	if res, err := pre.Process(ctx, history); err != nil || len(res.Failed) > 0 {
		t.Fatalf("pre-train: %v %v", err, res)
	}

	// Each writer sends the same new call at the same event time in its
	// first batch, then routine calls.
	newAt := t0.Add(time.Hour)
	var (
		mu        sync.Mutex
		news      []string // IDs of findings reported as new, for the new call
		conflicts int
		redeliver int
	)
	var ready, wg sync.WaitGroup
	ready.Add(writers)
	gate := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eng := detectors.NewEngine(cfg, NewDynamoDB(c, testTable, nil), nil)
			eng.MaxConflicts = 64
			evs := make([]events.Event, 0, perWriter)
			evs = append(evs, ev("deployer", "iam:CreateUser", newAt, fmt.Sprintf("new-%d", w)))
			for i := 1; i < perWriter; i++ {
				at := newAt.Add(time.Duration(i*writers+w) * time.Second)
				evs = append(evs, ev("deployer", routine[i%len(routine)], at, fmt.Sprintf("w%d-%d", w, i)))
			}
			for i := range evs {
				evs[i].Principal = principal
			}
			ready.Done()
			<-gate
			for len(evs) > 0 {
				n := min(batchSize, len(evs))
				batch := evs[:n]
				evs = evs[n:]
				for len(batch) > 0 {
					res, err := eng.Process(ctx, batch)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					conflicts += res.Conflicts
					for _, u := range res.Updates {
						if u.Kind == detectors.UpdateNew && slices.Contains(u.Finding.EventNames, "iam:CreateUser") {
							news = append(news, u.Finding.ID)
						}
					}
					mu.Unlock()
					// Events whose principal could not be saved are
					// redelivered, as SQS would.
					var again []events.Event
					for _, e := range batch {
						if slices.Contains(res.Failed, e.ID) {
							again = append(again, e)
						}
					}
					if len(again) > 0 {
						mu.Lock()
						redeliver += len(again)
						mu.Unlock()
					}
					batch = again
				}
			}
		}()
	}
	ready.Wait()
	began := time.Now()
	close(gate)
	wg.Wait()
	t.Logf("%d writers x %d events in %v: %d conflicts retried, %d events redelivered", writers, perWriter, time.Since(began), conflicts, redeliver)

	got, err := NewDynamoDB(c, testTable, nil).Load(ctx, []string{principal})
	if err != nil {
		t.Fatal(err)
	}
	b := got[principal].Baseline
	if want := uint64(len(history) + writers*perWriter); b.Events != want {
		t.Errorf("stored baseline counts %d events, want %d", b.Events, want)
	}
	if conflicts == 0 {
		t.Error("no conflicts: the writers did not race")
	}
	if len(news) != 1 {
		t.Errorf("the new call was reported as new %d times (%v), want once", len(news), news)
	}
}
