package baselines

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// interleavingStore lets the detect function write the principal between
// Amend's load and its save, once.
type interleavingStore struct {
	*DynamoDB
	before func()
}

func (s *interleavingStore) Save(ctx context.Context, st *detectors.State) error {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.DynamoDB.Save(ctx, st)
}

// TestAmendUnderConcurrentDetectWrite: baseline surgery and the detect
// function write the same principal at once: the surgery's conditional
// save conflicts, Amend reloads and applies the change again, and neither
// the analyst's change nor the function's event is lost.
func TestAmendUnderConcurrentDetectWrite(t *testing.T) {
	c, _ := newTable(t)
	ctx := context.Background()
	store := NewDynamoDB(c, testTable, nil)
	eng := detectors.NewEngine(detectors.DefaultConfig(), store, nil)
	p := "surgery"
	attacker := ev(p, "ec2:CreateTags", t0, "e-attacker")
	attacker.Network = events.Network{Class: events.NetPublic, Key: "198.51.100.0/24"}
	if _, err := eng.Process(ctx, []events.Event{ev(p, "s3:PutObject", t0.Add(-24*3600e9), "e-0"), attacker}); err != nil {
		t.Fatal(err)
	}
	concurrent := &interleavingStore{DynamoDB: store}
	concurrent.before = func() {
		res, err := eng.Process(ctx, []events.Event{ev(p, "s3:GetObject", t0.Add(3600e9), "e-during")})
		if err != nil || len(res.Failed) > 0 {
			t.Errorf("detect write during the surgery: %v %v", err, res)
		}
	}
	edits := 0
	changes, err := Amend(ctx, concurrent, p, false, func(st *detectors.State) []string {
		edits++
		return st.Baseline.ForgetValues([]detectors.DimValue{{Dim: detectors.DimNetwork, Value: "198.51.100.0/24"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if edits != 2 || fmt.Sprint(changes) == "" {
		t.Errorf("edits %d (want 2: the conflict reloads and edits again), changes %v", edits, changes)
	}
	states, err := store.Load(ctx, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	b := states[p].Baseline
	if _, held := b.Has(detectors.DimNetwork, "198.51.100.0/24"); held {
		t.Error("the analyst's change was lost")
	}
	if _, held := b.Has(detectors.DimAPI, "s3:GetObject"); !held || b.Events != 3 {
		t.Errorf("the detect function's event was lost: events %d", b.Events)
	}
	// A dry run writes nothing; an unknown principal is an error.
	if _, err := Amend(ctx, store, p, true, func(st *detectors.State) []string {
		st.Baseline.ForgetValues([]detectors.DimValue{{Dim: detectors.DimAPI, Value: "s3:GetObject"}})
		return []string{"x"}
	}); err != nil {
		t.Fatal(err)
	}
	states, _ = store.Load(ctx, []string{p})
	if _, held := states[p].Baseline.Has(detectors.DimAPI, "s3:GetObject"); !held {
		t.Error("a dry run wrote its change")
	}
	if _, err := Amend(ctx, store, "nobody", false, func(*detectors.State) []string { return []string{"x"} }); !errors.Is(err, ErrNoBaseline) {
		t.Errorf("unknown principal: %v", err)
	}
}
