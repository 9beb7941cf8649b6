package baselines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// faultProxy answers the first requests with faults, in order, then
// passes requests through to the server behind it.
type faultProxy struct {
	mu     sync.Mutex
	faults []fault
	served map[string]int
	proxy  *httputil.ReverseProxy
}

// fault is an HTTP status and error type to answer; the zero fault passes
// the request through.
type fault struct {
	status int
	typ    string
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var f *fault
	if len(p.faults) > 0 {
		f = &p.faults[0]
		p.faults = p.faults[1:]
		if f.status != 0 {
			p.served[f.typ]++
		}
	}
	p.mu.Unlock()
	if f == nil || f.status == 0 {
		p.proxy.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(f.status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test"}`, f.typ)
}

func TestDynamoDBRetriesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel() // mostly waits out backoffs
	c, ep := newTable(t)
	target, _ := url.Parse(ep)
	// Throttling, then throttling of another kind, then server errors,
	// each for a while (every call of the batch meets some), then
	// nothing.
	var faults []fault
	for _, f := range []fault{
		{400, "ProvisionedThroughputExceededException"},
		{400, "ThrottlingException"},
		{500, "InternalServerError"},
	} {
		faults = append(faults, f, f, fault{})
	}
	fp := &faultProxy{faults: faults, served: map[string]int{}, proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(fp)
	defer srv.Close()

	ctx := context.Background()
	cfg := config.Default()
	var evs []events.Event
	for i := range 60 {
		p := fmt.Sprintf("p%d", i%5)
		e := ev(p, []string{"s3:PutObject", "ec2:RunInstances", "sts:AssumeRole"}[i%3], t0.Add(time.Duration(i)*time.Minute), fmt.Sprint(i))
		evs = append(evs, e)
	}
	mem := NewMemory()
	if _, err := detectors.NewEngine(cfg, mem, nil).Process(ctx, evs); err != nil {
		t.Fatal(err)
	}
	s := NewDynamoDB(localClient(srv.URL), testTable, nil)
	began := time.Now()
	res, err := detectors.NewEngine(cfg, s, nil).Process(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > 0 {
		t.Fatalf("%d events failed", len(res.Failed))
	}
	t.Logf("batch completed through %v of injected faults in %v", fp.served, time.Since(began))
	if len(fp.faults) > 0 {
		t.Fatalf("%d faults not served", len(fp.faults))
	}
	// The stored baselines are those of the memory store.
	got, err := NewDynamoDB(c, testTable, nil).Load(ctx, []string{"p0", "p1", "p2", "p3", "p4"})
	if err != nil {
		t.Fatal(err)
	}
	mem.Each(func(want *detectors.State) {
		g := got[want.Baseline.Key]
		if g == nil || encodings(g) != encodings(want) || g.Version != 1 {
			t.Errorf("%s: stored state differs from the memory store's", want.Baseline.Key)
		}
	})
}

func TestDynamoDBResetsCorruptItems(t *testing.T) {
	c, _ := newTable(t)
	ctx := context.Background()
	cfg := config.Default()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s := NewDynamoDB(c, testTable, log)

	batch := func(from int) []events.Event {
		var evs []events.Event
		for i := range 30 {
			p := fmt.Sprintf("p%d", i%3)
			evs = append(evs, ev(p, "s3:PutObject", t0.Add(time.Duration(from+i)*time.Minute), fmt.Sprint(from+i)))
		}
		return evs
	}
	eng := detectors.NewEngine(cfg, s, nil)
	if res, err := eng.Process(ctx, batch(0)); err != nil || len(res.Failed) > 0 {
		t.Fatal(err, res)
	}
	// Garbage in p1's HOT item, with its version kept; p2 gets an item
	// of an older model version (0). A newer one is refused, not reset:
	// TestAdversarialNewerModelIsNotWiped.
	for _, p := range []struct{ key, hot string }{{"p1", "\x00garbage\xff"}, {"p2", "\x00H\x00"}} {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(testTable),
			Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "P#" + p.key}, "sk": &types.AttributeValueMemberS{Value: "HOT"},
				"version": &types.AttributeValueMemberN{Value: "1"},
				"hot":     &types.AttributeValueMemberB{Value: []byte(p.hot)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := eng.Process(ctx, batch(30))
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("batch with corrupt items: %v, %d failed", err, len(res.Failed))
	}
	if s.Resets() != 2 {
		t.Errorf("%d resets, want 2", s.Resets())
	}
	got, err := s.Load(ctx, []string{"p0", "p1", "p2"})
	if err != nil {
		t.Fatal(err)
	}
	if b := got["p0"].Baseline; b.Events != 20 || got["p0"].Version != 2 {
		t.Errorf("p0: %d events at version %d, want 20 at 2", b.Events, got["p0"].Version)
	}
	for _, p := range []string{"p1", "p2"} {
		if b := got[p].Baseline; b.Events != 10 || got[p].Version != 2 {
			t.Errorf("%s: %d events at version %d, want 10 (reset) at 2", p, b.Events, got[p].Version)
		}
	}
	var warned []string
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] == "WARN" {
			warned = append(warned, fmt.Sprintf("%v: %v", rec["principal"], rec["reason"]))
		}
	}
	t.Logf("warnings: %q", warned)
	if len(warned) != 2 || !strings.HasPrefix(warned[0], "p1: ") && !strings.HasPrefix(warned[1], "p1: ") ||
		!strings.Contains(strings.Join(warned, " "), "model version") {
		t.Errorf("warnings %q, want one for p1 (corrupt) and one for p2 (model version)", warned)
	}
}

// TestDynamoDBLostAnswerIsNotAConflict loses the answer of a write that
// succeeded: the SDK retries it, its condition then fails, and the store
// must recognise its own write rather than have the engine apply the
// events twice.
func TestDynamoDBLostAnswerIsNotAConflict(t *testing.T) {
	c, ep := newTable(t)
	target, _ := url.Parse(ep)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	lost := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lose := lost == 0 && r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.PutItem"
		if lose {
			lost++
		}
		mu.Unlock()
		if !lose {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // applied, answer lost
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`)
	}))
	defer srv.Close()

	ctx := context.Background()
	s := NewDynamoDB(localClient(srv.URL), testTable, nil)
	var evs []events.Event
	for i := range 10 {
		evs = append(evs, ev("p0", "s3:PutObject", t0.Add(time.Duration(i)*time.Minute), fmt.Sprint(i)))
	}
	res, err := detectors.NewEngine(config.Default(), s, nil).Process(ctx, evs)
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("%v, %d failed", err, len(res.Failed))
	}
	if lost != 1 {
		t.Fatalf("%d answers lost, want 1", lost)
	}
	got, err := NewDynamoDB(c, testTable, nil).Load(ctx, []string{"p0"})
	if err != nil {
		t.Fatal(err)
	}
	if st := got["p0"]; st.Baseline.Events != 10 || st.Version != 1 || res.Conflicts != 0 {
		t.Errorf("after a lost answer: %d events at version %d with %d conflicts, want 10 at 1 with none", st.Baseline.Events, st.Version, res.Conflicts)
	}
}
