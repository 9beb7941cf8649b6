package baselines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

const (
	newerKey = "111111111111:role/newer"
	olderKey = "111111111111:role/older"
	otherKey = "111111111111:role/other"
)

// versionBatch is ten events for each key, from minute from on.
func versionBatch(from int, keys ...string) []events.Event {
	var evs []events.Event
	for i := range 10 * len(keys) {
		k := keys[i%len(keys)]
		evs = append(evs, ev(k, "s3:PutObject", t0.Add(time.Duration(from+i)*time.Minute), fmt.Sprintf("%s-%d", k, from+i)))
	}
	return evs
}

func getHot(t *testing.T, c *dynamodb.Client, key string) map[string]types.AttributeValue {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(testTable), Key: itemKey(pkOf(key), skHot), ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		t.Fatalf("get %s: %v (item %v)", key, err, out.Item)
	}
	return out.Item
}

// setModel rewrites key's HOT item as if a binary of model version model
// had written it: the same item, its hot part's version changed.
func setModel(t *testing.T, c *dynamodb.Client, key string, model int) {
	t.Helper()
	it := getHot(t, c, key)
	hot, err := unpack(it[attrHot].(*types.AttributeValueMemberB).Value)
	if err != nil || len(hot) < 2 || hot[1] != detectors.ModelVersion || model > 127 {
		t.Fatalf("hot part of %s: %v", key, err)
	}
	hot = append([]byte(nil), hot...)
	hot[1] = byte(model)
	it[attrHot] = &types.AttributeValueMemberB{Value: pack(hot)}
	if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(testTable), Item: it}); err != nil {
		t.Fatal(err)
	}
}

// logLines returns the JSON log records at level.
func logLines(t *testing.T, logs *bytes.Buffer, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] == level {
			out = append(out, rec)
		}
	}
	return out
}

// TestAdversarialNewerModelIsNotWiped: an older binary (an old `replay
// --store dynamodb` pointed at the production table, a rollback) meets a
// baseline written by a newer model version. It must not reset it: Load
// names the principal in a detectors.UnusableStates error and leaves it out,
// an error is logged with both versions, a blind write cannot replace the
// item, and after the engine has run the item is byte for byte unchanged.
func TestAdversarialNewerModelIsNotWiped(t *testing.T) {
	c, _ := newTable(t)
	ctx := context.Background()
	var logs bytes.Buffer
	s := NewDynamoDB(c, testTable, slog.New(slog.NewJSONHandler(&logs, nil)))
	eng := detectors.NewEngine(config.Default(), s, nil)
	if res, err := eng.Process(ctx, versionBatch(0, newerKey, otherKey)); err != nil || len(res.Failed) > 0 {
		t.Fatal(err, res)
	}
	setModel(t, c, newerKey, detectors.ModelVersion+1)
	before := getHot(t, c, newerKey)

	got, err := s.Load(ctx, []string{newerKey, otherKey})
	var unusable detectors.UnusableStates
	if !errors.As(err, &unusable) || !errors.Is(err, detectors.ErrNewerModel) || len(unusable) != 1 || unusable[newerKey] == nil {
		t.Fatalf("Load error %v, want UnusableStates naming only %s", err, newerKey)
	}
	if errors.Is(err, detectors.ErrModelVersion) {
		t.Errorf("a newer model matches ErrModelVersion (the reset path): %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if got[newerKey] != nil {
		t.Errorf("Load returned a state for %s: %+v", newerKey, got[newerKey])
	}
	if st := got[otherKey]; st == nil || st.Baseline.Events != 10 {
		t.Errorf("the other principal did not load intact: %+v", st)
	}
	if s.Resets() != 0 {
		t.Errorf("%d resets, want 0", s.Resets())
	}

	// A write that did not load the item (a fresh state, as an engine
	// makes for a key Load did not return) fails its condition.
	if err := s.Save(ctx, &detectors.State{Baseline: detectors.NewBaseline(newerKey)}); !errors.Is(err, detectors.ErrConflict) {
		t.Errorf("blind save over the newer item: %v, want ErrConflict", err)
	}

	// The engine fails exactly the newer principal's events, and saves
	// the others'.
	batch := versionBatch(20, newerKey, otherKey)
	res, err := eng.Process(ctx, batch)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	var want []string
	for _, e := range batch {
		if e.Principal == newerKey {
			want = append(want, e.ID)
		}
	}
	failed := slices.Sorted(slices.Values(res.Failed))
	slices.Sort(want)
	if !slices.Equal(failed, want) {
		t.Errorf("failed events %v, want those of %s: %v", failed, newerKey, want)
	}
	if st, err := s.Load(ctx, []string{otherKey}); err != nil || st[otherKey].Baseline.Events != 20 {
		t.Errorf("the other principal was not saved: %v", err)
	}
	if after := getHot(t, c, newerKey); !reflect.DeepEqual(after, before) {
		t.Errorf("the newer item changed:\nbefore %v\n after %v", before, after)
	}

	errs := logLines(t, &logs, "ERROR")
	if len(errs) == 0 {
		t.Fatal("no error logged")
	}
	for _, rec := range errs {
		if rec["principal"] != newerKey || rec["stored_model"] != float64(detectors.ModelVersion+1) || rec["binary_model"] != float64(detectors.ModelVersion) {
			t.Errorf("error log %v, want principal %s, stored_model %d, binary_model %d", rec, newerKey, detectors.ModelVersion+1, detectors.ModelVersion)
		}
	}
}

// TestStoredOlderModelResets is the benign twin: a baseline of an older
// model version is reset as before (a warning, the stored version kept so
// the next write still conditions on it), and the batch goes on.
func TestStoredOlderModelResets(t *testing.T) {
	c, _ := newTable(t)
	ctx := context.Background()
	var logs bytes.Buffer
	s := NewDynamoDB(c, testTable, slog.New(slog.NewJSONHandler(&logs, nil)))
	eng := detectors.NewEngine(config.Default(), s, nil)
	if res, err := eng.Process(ctx, versionBatch(0, olderKey, otherKey)); err != nil || len(res.Failed) > 0 {
		t.Fatal(err, res)
	}
	setModel(t, c, olderKey, 0) // older, and without a migration

	res, err := eng.Process(ctx, versionBatch(20, olderKey, otherKey))
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("Process: %v, %d failed", err, len(res.Failed))
	}
	got, err := s.Load(ctx, []string{olderKey, otherKey})
	if err != nil {
		t.Fatal(err)
	}
	if st := got[olderKey]; st.Baseline.Events != 10 || st.Version != 2 || st.Baseline.Model != detectors.ModelVersion {
		t.Errorf("older: %d events at version %d, model %d; want 10 (reset) at 2, model %d",
			st.Baseline.Events, st.Version, st.Baseline.Model, detectors.ModelVersion)
	}
	if st := got[otherKey]; st.Baseline.Events != 20 || st.Version != 2 {
		t.Errorf("other: %d events at version %d, want 20 at 2", st.Baseline.Events, st.Version)
	}
	if s.Resets() != 1 {
		t.Errorf("%d resets, want 1", s.Resets())
	}
	warns := logLines(t, &logs, "WARN")
	if len(warns) != 1 || warns[0]["principal"] != olderKey || !strings.Contains(fmt.Sprint(warns[0]["reason"]), "older") {
		t.Errorf("warnings %v, want one for %s naming the older model", warns, olderKey)
	}
	if errs := logLines(t, &logs, "ERROR"); len(errs) != 0 {
		t.Errorf("errors logged: %v", errs)
	}
}
