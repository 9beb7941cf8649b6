package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// countingDynamoDB counts the store's DynamoDB calls (round trips as the
// store sees them; SDK retries of one call are not counted).
type countingDynamoDB struct {
	baselines.DynamoDBAPI
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingDynamoDB) count(op string) {
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
}

func (c *countingDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.count("BatchGetItem")
	return c.DynamoDBAPI.BatchGetItem(ctx, in, o...)
}

func (c *countingDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.DynamoDBAPI.PutItem(ctx, in, o...)
}

func (c *countingDynamoDB) reset() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, n := c.calls, 0
	for _, v := range m {
		n += v
	}
	c.calls = map[string]int{}
	return m, n
}

// tenPrincipalBatch builds an SQS batch of 100 selected events from the
// sample, 10 for each of the 10 busiest principals, in time order.
func tenPrincipalBatch(t testing.TB) lambdaevents.SQSEvent {
	t.Helper()
	f, err := os.Open("../../testdata/sample/cloudtrail.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	norm := &events.Normalizer{Keying: events.DefaultKeyingRules()}
	byPrincipal := map[string][]json.RawMessage{}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r events.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		e, err := norm.Normalize(&r)
		if err != nil || !e.Selected {
			continue
		}
		byPrincipal[e.Principal] = append(byPrincipal[e.Principal], append(json.RawMessage(nil), sc.Bytes()...))
	}
	keys := make([]string, 0, len(byPrincipal))
	for k := range byPrincipal {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(byPrincipal[keys[i]]) != len(byPrincipal[keys[j]]) {
			return len(byPrincipal[keys[i]]) > len(byPrincipal[keys[j]])
		}
		return keys[i] < keys[j]
	})
	if len(keys) < 10 {
		t.Fatalf("sample has %d principals", len(keys))
	}
	var recs []json.RawMessage
	for _, k := range keys[:10] {
		recs = append(recs, byPrincipal[k][:10]...)
	}
	return sqsBatches("bench", recs, 100)[0]
}

// dynaliteHandler returns a handler over a fresh dynalite table, with the
// store's client wrapped to count calls.
func dynaliteHandler(t testing.TB) (*handler, *countingDynamoDB) {
	t.Helper()
	ep := testenv.Dynalite(t)
	client := baselines.NewDynamoDBClient(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := baselines.CreateTable(ctx, client, "trailwatch-bench"); err != nil {
		t.Fatal(err)
	}
	counter := &countingDynamoDB{DynamoDBAPI: client, calls: map[string]int{}}
	h, _ := newTestHandler(baselines.NewDynamoDB(counter, "trailwatch-bench", nil), &fakePublisher{})
	return h, counter
}

// TestDetectBatchRoundTrips: a batch of 100 events of 10 principals costs
// at most two DynamoDB round trips per principal (one BatchGetItem for
// all, one conditional PutItem each).
func TestDetectBatchRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("needs dynalite")
	}
	batch := tenPrincipalBatch(t)
	h, counter := dynaliteHandler(t)
	for round := range 2 { // new principals, then stored ones
		counter.reset()
		if resp := invoke(t, h, batch); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		calls, n := counter.reset()
		t.Logf("round %d: %v (%.1f per principal)", round+1, calls, float64(n)/10)
		if n > 20 || calls["BatchGetItem"] != 1 {
			t.Errorf("round %d: %v, want one BatchGetItem and at most 2 round trips per principal", round+1, calls)
		}
	}
}

// BenchmarkDetectBatch measures the handler on a batch of 100 events of
// 10 principals against dynalite, and reports DynamoDB round trips per
// principal and the median batch duration.
func BenchmarkDetectBatch(b *testing.B) {
	batch := tenPrincipalBatch(b)
	h, counter := dynaliteHandler(b)
	invoke(b, h, batch) // create the principals
	counter.reset()
	var durations []time.Duration
	calls := 0
	for b.Loop() {
		start := time.Now()
		invoke(b, h, batch)
		durations = append(durations, time.Since(start))
		_, n := counter.reset()
		calls += n
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	perPrincipal := float64(calls) / float64(len(durations)) / 10
	b.ReportMetric(perPrincipal, "roundtrips/principal")
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms/batch")
	if perPrincipal > 2 {
		b.Fatalf("%.2f DynamoDB round trips per principal, want at most 2", perPrincipal)
	}
}
