package baselines

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

const testTable = "tw-test"

// localClient returns a client for a local endpoint, with dummy
// credentials.
func localClient(endpoint string) *dynamodb.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	return NewDynamoDBClient(cfg, endpoint)
}

// newTable starts dynalite, creates the table and returns a client.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	ep := testenv.Dynalite(t)
	c := localClient(ep)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CreateTable(ctx, c, testTable); err != nil {
		t.Fatal(err)
	}
	return c, ep
}

// countingAPI counts PutItem calls by sort key prefix.
type countingAPI struct {
	DynamoDBAPI
	mu   sync.Mutex
	puts map[string]int
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	sk := in.Item[attrSK].(*types.AttributeValueMemberS).Value
	c.mu.Lock()
	c.puts[strings.SplitN(sk, "#", 2)[0]]++
	c.mu.Unlock()
	return c.DynamoDBAPI.PutItem(ctx, in, optFns...)
}

func (c *countingAPI) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.puts
	c.puts = map[string]int{}
	return p
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func ev(principal, api string, at time.Time, id string) events.Event {
	return events.Event{
		Time: at, ID: id, Account: "111111111111", Region: "us-east-1",
		Service: strings.SplitN(api, ":", 2)[0], API: api,
		Principal: principal, PrincipalARN: "arn:aws:iam::111111111111:role/" + principal,
		PrincipalType: "AssumedRole", Mutating: true, Selected: true,
		Network:  events.Network{Class: events.NetPublic, Key: "203.0.113.0/24"},
		UAFamily: "aws-cli",
	}
}

func encodings(st *detectors.State) string {
	cs, _ := detectors.EncodeCases(st.Cases)
	return fmt.Sprintf("%x|%x|%s", st.Baseline.EncodeHot(), st.Baseline.EncodeCold(), cs)
}

func TestDynamoDBRoundTrip(t *testing.T) {
	c, _ := newTable(t)
	api := &countingAPI{DynamoDBAPI: c, puts: map[string]int{}}
	s := NewDynamoDB(api, testTable, nil)
	ctx := context.Background()

	// A small baseline stays in one item.
	small := &detectors.State{Baseline: detectors.NewBaseline("111111111111:role/small")}
	for i := range 50 {
		e := ev("small", []string{"s3:PutObject", "ec2:RunInstances"}[i%2], t0.Add(time.Duration(i)*time.Hour), fmt.Sprint(i))
		small.Baseline.Observe(&e, 90*24*time.Hour)
	}
	// A large one spills its value sets: 400 distinct, random API names.
	large := &detectors.State{Baseline: detectors.NewBaseline("111111111111:role/large")}
	for i := range 400 {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		e := ev("large", fmt.Sprintf("svc%d:Action%x", i%7, h[:8]), t0.Add(time.Duration(i)*time.Minute), fmt.Sprint(i))
		large.Baseline.Observe(&e, 90*24*time.Hour)
	}
	for _, st := range []*detectors.State{small, large} {
		want := encodings(st)
		if err := s.Save(ctx, st); err != nil {
			t.Fatal(err)
		}
		if st.Version != 1 || st.Baseline.ColdDirty {
			t.Fatalf("after save: version %d, cold dirty %v", st.Version, st.Baseline.ColdDirty)
		}
		got, err := s.Load(ctx, []string{st.Baseline.Key})
		if err != nil {
			t.Fatal(err)
		}
		g := got[st.Baseline.Key]
		if g == nil || encodings(g) != want || g.Version != 1 {
			t.Fatalf("%s: round trip differs", st.Baseline.Key)
		}
	}
	if p := api.reset(); p["HOT"] != 2 || p["COLD"] != 1 {
		t.Fatalf("first saves wrote %v, want 2 HOT and 1 COLD (the large one's)", p)
	}

	// A hot-only change of the large baseline writes the HOT item only.
	got, _ := s.Load(ctx, []string{large.Baseline.Key})
	st := got[large.Baseline.Key]
	h := sha256.Sum256([]byte("399"))
	e := ev("large", fmt.Sprintf("svc%d:Action%x", 399%7, h[:8]), t0.Add(399*time.Minute), "again")
	st.Baseline.Observe(&e, 90*24*time.Hour)
	if st.Baseline.ColdDirty {
		t.Fatal("test event dirtied the cold part")
	}
	r0, w0 := s.ConsumedCapacity()
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	r1, w1 := s.ConsumedCapacity()
	if p := api.reset(); p["HOT"] != 1 || p["COLD"] != 0 {
		t.Fatalf("hot-only save wrote %v, want the HOT item only", p)
	}
	t.Logf("hot-only save of a spilled baseline: %.1f WCU, %.1f RCU", w1-w0, r1-r0)
	if w1-w0 != 1 {
		t.Errorf("hot-only save cost %.1f WCU, want 1", w1-w0)
	}
	// A cold change writes a new COLD item, and the load sees it.
	e = ev("large", "svc9:Brandnew", t0.Add(400*time.Minute), "new")
	st.Baseline.Observe(&e, 90*24*time.Hour)
	want := encodings(st)
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	if p := api.reset(); p["HOT"] != 1 || p["COLD"] != 1 {
		t.Fatalf("cold save wrote %v", p)
	}
	got, _ = s.Load(ctx, []string{large.Baseline.Key, "nobody"})
	if g := got[large.Baseline.Key]; g == nil || encodings(g) != want || g.Version != 3 {
		t.Fatal("reload after a cold change differs")
	}
	if _, ok := got["nobody"]; ok {
		t.Fatal("unknown principal loaded")
	}

	// A stale version conflicts.
	stale := &detectors.State{Baseline: large.Baseline, Version: 1}
	if err := s.Save(ctx, stale); err != detectors.ErrConflict {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	dup := &detectors.State{Baseline: detectors.NewBaseline(small.Baseline.Key)}
	if err := s.Save(ctx, dup); err != detectors.ErrConflict {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
}

// TestExpiryFollowsTheConfig: expires_at is the principal's last event plus
// the forgetting period of the config the engine ran with, not a fixed 90
// days: with forgetting.unseen_days 180 a quarterly principal survives.
func TestExpiryFollowsTheConfig(t *testing.T) {
	c, _ := newTable(t)
	ctx := context.Background()
	for _, days := range []int{30, 180} {
		store := NewDynamoDB(c, testTable, nil)
		cfg := detectors.DefaultConfig()
		cfg.Forget = time.Duration(days) * 24 * time.Hour
		if errs := cfg.Prepare(); len(errs) > 0 {
			t.Fatal(errs)
		}
		p := fmt.Sprintf("expiry-%d", days)
		last := t0.Add(time.Hour)
		if _, err := detectors.NewEngine(cfg, store, nil).Process(ctx, []events.Event{ev(p, "s3:PutObject", last, p)}); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(testTable), Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: pkOf(p)}, attrSK: &types.AttributeValueMemberS{Value: skHot},
		}})
		if err != nil || out.Item == nil {
			t.Fatalf("GetItem %s: %v", p, err)
		}
		got := out.Item[attrExpires].(*types.AttributeValueMemberN).Value
		if want := fmt.Sprint(last.Unix() + int64(days)*86400); got != want {
			t.Errorf("forgetting %d days: expires_at %s, want %s", days, got, want)
		}
	}
}
