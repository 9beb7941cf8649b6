package detectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

// stateBytes is everything the store holds for a principal: the encoded
// baseline parts and the dedupe state.
func stateBytes(t *testing.T, mem *baselines.Memory, key string) []byte {
	t.Helper()
	states, err := mem.Load(context.Background(), []string{key})
	if err != nil {
		t.Fatal(err)
	}
	st := states[key]
	if st == nil {
		t.Fatalf("no state for %s", key)
	}
	cases, err := detectors.EncodeCases(st.Cases)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Join([][]byte{st.Baseline.EncodeHot(), st.Baseline.EncodeCold(), cases}, []byte{0})
}

// busyBatch is a whole SQS batch of the deployed size made of one
// principal's events: a burst of new APIs from a new network, so that
// counters, the hour histogram, the rates and a finding's count all move.
func busyBatch(n int) []events.Event {
	var evs []events.Event
	for i := range n {
		api := fmt.Sprintf("ec2:CreateTags%d", i%7)
		evs = append(evs, dt.Event(alice, api, at(10, 11, 0).Add(time.Duration(i)*3*time.Second),
			dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID(fmt.Sprintf("busy-%03d", i))))
	}
	return evs
}

// TestEngineRedeliveryOfAWholeBatch: a batch of the deployed maximum size,
// all of one principal, delivered three times (in any order) leaves the
// stored state byte for byte as after the first delivery, and routes
// nothing again.
func TestEngineRedeliveryOfAWholeBatch(t *testing.T) {
	const deployedBatchSize = 100
	if detectors.RecentEventIDs < deployedBatchSize {
		t.Fatalf("RecentEventIDs %d is below the deployed batch size %d", detectors.RecentEventIDs, deployedBatchSize)
	}
	cfg := detectors.DefaultConfig()
	cfg.Routing.SNSMinSeverity = detectors.SeverityLow
	e, mem := newEngine(t, cfg, aliceHistory())
	batch := busyBatch(deployedBatchSize)
	first := process(t, e, batch...)
	routed := 0
	for _, u := range first.Updates {
		if u.Delivered() {
			routed++
		}
	}
	if routed == 0 {
		t.Fatal("the batch routed no finding; the test needs one to watch its count")
	}
	want := stateBytes(t, mem, alice)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 2; round <= 3; round++ {
		again := append([]events.Event(nil), batch...)
		rng.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
		res := process(t, e, again...)
		for _, u := range res.Updates {
			if u.Delivered() {
				t.Errorf("delivery %d routed %s again (kind %d)", round, u.Finding.ID, u.Kind)
			}
		}
		if got := stateBytes(t, mem, alice); !bytes.Equal(got, want) {
			t.Errorf("delivery %d changed the stored state (%d bytes, was %d)", round, len(got), len(want))
		}
	}
}

// TestEngineFutureEvent: a forged far-future eventTime in the middle of a
// principal's history is skipped and counted, and the principal's later
// findings and state are identical to a run without it.
func TestEngineFutureEvent(t *testing.T) {
	batches := [][]events.Event{
		{dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.UA(dt.UABoto3), dt.ID("a1"))},
		{dt.Event(alice, "s3:PutObject", at(10, 10, 30), dt.UA(dt.UABoto3), dt.ID("a2"))},
		{
			dt.Event(alice, "iam:CreateUser", at(11, 9, 0), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("a3"), dt.Params(`{"userName":"x"}`)),
			dt.Event(alice, "cloudtrail:StopLogging", at(11, 9, 1), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("a4")),
		},
	}
	forged := dt.Event(alice, "ec2:DescribeInstances", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), dt.UA(dt.UABoto3), dt.ID("future"))
	run := func(withForged bool) (later []string, state []byte, future int) {
		e, mem := newEngine(t, nil, aliceHistory())
		for i, b := range batches {
			// The function's clock: a minute after the batch's events.
			clock := b[len(b)-1].Time.Add(time.Minute)
			e.Clock = func() time.Time { return clock }
			if withForged && i == 1 {
				b = append([]events.Event{forged}, b...)
			}
			res := process(t, e, b...)
			future += res.Future
			if i < 2 {
				continue
			}
			for _, u := range res.Updates {
				js, _ := json.Marshal(u.Finding)
				later = append(later, fmt.Sprintf("%d %v %s", u.Kind, u.Routed, js))
			}
		}
		return later, stateBytes(t, mem, alice), future
	}
	wantLater, wantState, _ := run(false)
	gotLater, gotState, future := run(true)
	if future != 1 {
		t.Errorf("future events counted %d, want 1", future)
	}
	if len(wantLater) == 0 {
		t.Fatal("no later finding to compare")
	}
	if fmt.Sprint(gotLater) != fmt.Sprint(wantLater) {
		t.Errorf("later findings differ with the forged event:\n got %v\nwant %v", gotLater, wantLater)
	}
	if !bytes.Equal(gotState, wantState) {
		t.Error("the forged event changed the stored state")
	}

	// Within the skew an event is kept: clock drift is not an attack.
	e, _ := newEngine(t, nil, aliceHistory())
	now := at(10, 10, 0)
	e.Clock = func() time.Time { return now }
	res := process(t, e, dt.Event(alice, "ec2:DescribeInstances", now.Add(detectors.DefaultMaxSkew-time.Second), dt.ID("drift")))
	if res.Future != 0 {
		t.Errorf("an event %v ahead of the clock was skipped", detectors.DefaultMaxSkew-time.Second)
	}
}

// orderLog records the order of publications and saves.
type orderLog struct {
	mu   sync.Mutex
	log  []string
	fail error
}

func (o *orderLog) add(s string) {
	o.mu.Lock()
	o.log = append(o.log, s)
	o.mu.Unlock()
}

type loggingStore struct {
	detectors.Store
	o     *orderLog
	delay time.Duration
}

func (s *loggingStore) Save(ctx context.Context, st *detectors.State) error {
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.o.add("save " + st.Baseline.Key)
	return s.Store.Save(ctx, st)
}

type loggingPublisher struct{ o *orderLog }

func (p *loggingPublisher) Publish(_ context.Context, u detectors.Update) error {
	if p.o.fail != nil {
		return p.o.fail
	}
	p.o.add(fmt.Sprintf("publish %s %s ticket=%v", u.Finding.Principal, u.Finding.Severity, u.Ticket))
	return nil
}

// TestEnginePublishThenCommit: a principal's delivered findings are
// published before its state is saved; a failed publication leaves the
// state unsaved and the events failed, and the retry publishes.
func TestEnginePublishThenCommit(t *testing.T) {
	e, _ := newEngine(t, nil)
	codec := dt.NewCodecStore()
	if err := dt.Seed(codec, aliceHistory().Baseline()); err != nil {
		t.Fatal(err)
	}
	o := &orderLog{fail: errors.New("sns: throttled")}
	e.Store = &loggingStore{Store: codec, o: o}
	e.Publisher = &loggingPublisher{o: o}
	before := codec.Bytes(alice)
	batch := []events.Event{
		dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 1), dt.From(dt.IPForeign), dt.UA(dt.UACurl), dt.ID("s1")),
	}
	res, err := e.Process(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.PublishFailures != 1 || len(res.Published) != 0 {
		t.Fatalf("failed publication: Failed %v, PublishFailures %d, Published %d", res.Failed, res.PublishFailures, len(res.Published))
	}
	if !bytes.Equal(codec.Bytes(alice), before) || len(o.log) != 0 {
		t.Fatalf("state saved although the publication failed: %v", o.log)
	}
	o.fail = nil
	res = process(t, e, batch...)
	want := fmt.Sprintf("[publish %s CRITICAL ticket=true save %s]", alice, alice)
	if fmt.Sprint(o.log) != want || len(res.Published) != 1 {
		t.Errorf("order %v, want %s", o.log, want)
	}
	// A plain redelivery publishes nothing.
	process(t, e, batch...)
	if len(o.log) != 3 || o.log[2] != "save "+alice {
		t.Errorf("redelivery: %v", o.log)
	}
}

// TestEngineTicketFollowsRouting: the ticket flag is the live config's
// routing.ticket_min_severity, decided in one place (Routing.Ticket).
func TestEngineTicketFollowsRouting(t *testing.T) {
	ev := dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.From(dt.IPForeign), dt.UA(dt.UACLI222))
	for _, tc := range []struct {
		ticketMin detectors.Severity
		want      bool
	}{{detectors.SeverityHigh, false}, {detectors.SeverityMedium, true}} {
		cfg := detectors.DefaultConfig()
		cfg.Routing.TicketMinSeverity = tc.ticketMin
		e, _ := newEngine(t, cfg, aliceHistory())
		res := process(t, e, ev)
		if len(res.Updates) != 1 || res.Updates[0].Finding.Severity != detectors.SeverityMedium {
			t.Fatalf("want one MEDIUM finding, got %+v", res.Updates)
		}
		if res.Updates[0].Ticket != tc.want {
			t.Errorf("ticket minimum %s: MEDIUM finding ticket=%v, want %v", tc.ticketMin, res.Updates[0].Ticket, tc.want)
		}
	}
}

// TestEngineDeadline: principals that cannot start before the deadline's
// reserve are deferred as failed, the ones finished are saved, and the
// retry of the deferred ones applies each event once.
func TestEngineDeadline(t *testing.T) {
	bob := "111122223333:user/bob"
	e, mem := newEngine(t, nil, aliceHistory())
	o := &orderLog{}
	e.Store = &loggingStore{Store: mem, o: o, delay: 300 * time.Millisecond}
	e.Reserve = 200 * time.Millisecond
	batch := []events.Event{
		dt.Event(alice, "s3:PutObject", at(10, 10, 0), dt.UA(dt.UABoto3), dt.ID("d1")),
		dt.Event(bob, "s3:PutObject", at(10, 10, 0), dt.UA(dt.UABoto3), dt.ID("d2")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 450*time.Millisecond)
	defer cancel()
	res, err := e.Process(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Failed) != "[d2]" || res.Deferred != 1 {
		t.Fatalf("Failed %v Deferred %d, want bob's event deferred", res.Failed, res.Deferred)
	}
	if fmt.Sprint(o.log) != "[save "+alice+"]" {
		t.Fatalf("saves %v", o.log)
	}
	// SQS redelivers the whole batch (alice's message too, in the worst
	// case): alice's event is not applied twice, bob's once.
	e.Store = mem
	aliceBefore := stateBytes(t, mem, alice)
	process(t, e, batch...)
	if !bytes.Equal(stateBytes(t, mem, alice), aliceBefore) {
		t.Error("the retry applied alice's event twice")
	}
	states, _ := mem.Load(context.Background(), []string{bob})
	if st := states[bob]; st == nil || st.Baseline.Events != 1 {
		t.Errorf("bob's state after the retry: %+v", st)
	}
}

// TestCaseIdentity: a case keeps one ID while its lead signal changes, its
// detector and dedupe key follow the lead together, and a recurrence after
// the dedupe window is a new case with a new ID.
func TestCaseIdentity(t *testing.T) {
	cfg := detectors.DefaultConfig()
	cfg.Routing.SNSMinSeverity = detectors.SeverityLow
	e, _ := newEngine(t, cfg, aliceHistory())
	res := process(t, e, dt.Event(alice, "ec2:DescribeInstances", at(10, 10, 0), dt.UA(dt.UABoto3)))
	if len(res.Updates) != 1 {
		t.Fatalf("want one finding, got %d", len(res.Updates))
	}
	first := res.Updates[0].Finding
	res = process(t, e, dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 20), dt.UA(dt.UABoto3)))
	if len(res.Updates) != 1 {
		t.Fatalf("want one update, got %d", len(res.Updates))
	}
	lead := res.Updates[0].Finding
	if lead.ID != first.ID {
		t.Errorf("the case changed identity when its lead changed: %s -> %s", first.ID, lead.ID)
	}
	if first.Detector != detectors.IDFirstSeen || lead.Detector != detectors.IDHighRiskAction {
		t.Fatalf("detectors %s then %s, want first-seen then high-risk-action", first.Detector, lead.Detector)
	}
	for _, f := range []detectors.Finding{first, lead} {
		if want := f.Detector + "|" + alice + "|"; len(f.DedupeKey) <= len(want) || f.DedupeKey[:len(want)] != want {
			t.Errorf("detector %s with dedupe key %s", f.Detector, f.DedupeKey)
		}
	}
	// The same subject long after the dedupe window: a new case.
	later := at(10, 10, 0).Add(cfg.Windows.Dedupe + 48*time.Hour)
	res = process(t, e, dt.Event(alice, "cloudtrail:StopLogging", later, dt.UA(dt.UABoto3)))
	for _, u := range res.Updates {
		if u.Finding.ID == first.ID {
			t.Errorf("a recurrence after the dedupe window reused the ID %s", first.ID)
		}
	}
	if len(res.Updates) == 0 {
		t.Error("the recurrence raised no finding")
	}
}
