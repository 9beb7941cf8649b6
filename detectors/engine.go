package detectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/trailwatch/trailwatch/events"
)

// ErrConflict is returned by Store.Save when the principal's state changed
// since it was loaded; the engine reloads and applies the events again.
var ErrConflict = errors.New("principal state changed concurrently")

// State is everything remembered about one principal: its baseline and its
// recent findings (the dedupe state). Stores persist it; Version is theirs,
// for optimistic concurrency.
type State struct {
	Baseline *Baseline
	Cases    []*Case
	// CasesDirty is set when Cases changed since load.
	CasesDirty bool
	// Version is the store's concurrency token as loaded; zero for a
	// principal not stored yet.
	Version int64
}

// Store loads and saves principal states. It is declared here, where it is
// used; package baselines provides the implementations.
type Store interface {
	// Load returns the stored states of the keys; keys not stored are
	// absent from the map.
	Load(ctx context.Context, keys []string) (map[string]*State, error)
	// Save writes st if the stored version still equals st.Version, and
	// returns ErrConflict if it does not.
	Save(ctx context.Context, st *State) error
}

// UpdateKind says why a finding is reported.
type UpdateKind int

// Update kinds.
const (
	// UpdateNew is a finding reported for the first time.
	UpdateNew UpdateKind = iota + 1
	// UpdateEscalated is a reported finding whose severity rose.
	UpdateEscalated
	// UpdateCount is a reported finding that absorbed more events; it is
	// stored but not routed again.
	UpdateCount
)

// Update is a finding that changed in a batch.
type Update struct {
	Finding Finding
	Kind    UpdateKind
	// Routed is true when the finding meets the routing minimum in
	// alert mode: it is what production sends on.
	Routed bool
}

// Result is what processing a batch produced.
type Result struct {
	Updates []Update
	// Failed lists the event IDs whose principal could not be saved;
	// their messages should be retried.
	Failed []string
	// Suppressed counts signals silenced, by suppression name.
	Suppressed map[string]int
	// Conflicts counts optimistic-concurrency retries.
	Conflicts int
}

// Engine runs the detectors over batches of events against stored state.
type Engine struct {
	Detectors []Detector
	Config    *Config
	Store     Store
	Log       *slog.Logger
	// MaxConflicts bounds reload-and-retry rounds per principal.
	MaxConflicts int
	// Now gives the wall clock, used only for logging ages; detection
	// runs on event time.
	Now func() time.Time
}

// NewEngine returns an engine with all detectors.
func NewEngine(cfg *Config, store Store, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{Detectors: All(), Config: cfg, Store: store, Log: log, MaxConflicts: 8, Now: time.Now}
}

// Process applies a batch of events: grouped per principal, each principal
// loaded once (one batched read), updated in event-time order, and saved
// once with a conditional write. A principal whose write conflicts is
// reloaded and recomputed, so concurrent writers never lose updates and a
// value both see as new is reported once.
func (e *Engine) Process(ctx context.Context, evs []events.Event) (*Result, error) {
	res := &Result{Suppressed: map[string]int{}}
	if len(evs) == 0 {
		return res, nil
	}
	groups := map[string][]*events.Event{}
	var keys []string
	for i := range evs {
		k := evs[i].Principal
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], &evs[i])
	}
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(i, j int) bool {
			if !g[i].Time.Equal(g[j].Time) {
				return g[i].Time.Before(g[j].Time)
			}
			return g[i].ID < g[j].ID
		})
	}
	states, err := e.Store.Load(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("load baselines: %w", err)
	}
	for _, k := range keys {
		st := states[k]
		var updates []Update
		var supp map[string]int
		saved := false
		for attempt := 0; ; attempt++ {
			if st == nil {
				st = &State{Baseline: NewBaseline(k)}
			}
			updates, supp = e.apply(st, groups[k])
			err := e.Store.Save(ctx, st)
			if err == nil {
				saved = true
				break
			}
			if !errors.Is(err, ErrConflict) || attempt >= e.MaxConflicts {
				e.Log.Error("save baseline", "principal", k, "attempt", attempt+1, "err", err)
				break
			}
			res.Conflicts++
			fresh, err := e.Store.Load(ctx, []string{k})
			if err != nil {
				e.Log.Error("reload baseline", "principal", k, "err", err)
				break
			}
			st = fresh[k]
		}
		if !saved {
			for _, ev := range groups[k] {
				res.Failed = append(res.Failed, ev.ID)
			}
			continue
		}
		res.Updates = append(res.Updates, updates...)
		for n, c := range supp {
			res.Suppressed[n] += c
		}
	}
	return res, nil
}

// apply folds a principal's events into its state and returns the findings
// that changed. It is deterministic: the same state and events give the same
// result, whichever process runs it.
func (e *Engine) apply(st *State, evs []*events.Event) ([]Update, map[string]int) {
	cfg := e.Config
	b := st.Baseline
	name := DisplayName(b.Key)
	supp := map[string]int{}
	changed := map[string]*Case{}
	for _, ev := range evs {
		if b.SeenEvent(ev.ID) {
			// A redelivered event: already in the baseline and in any
			// finding it caused.
			continue
		}
		c := &Context{Baseline: b, Mature: b.Mature(cfg.Learning, ev.Time), Config: cfg, Name: name}
		var alert, shadow []Signal
		for _, d := range e.Detectors {
			dc := cfg.Detector(d.ID())
			if dc.Mode == ModeOff {
				continue
			}
			for _, s := range d.Check(c, ev) {
				if s.Score < dc.Threshold {
					continue
				}
				if n := e.suppressedBy(s.Detector, ev); n != "" {
					supp[n]++
					continue
				}
				if dc.Mode == ModeShadow {
					shadow = append(shadow, s)
				} else {
					alert = append(alert, s)
				}
			}
		}
		for i, sigs := range [][]Signal{alert, shadow} {
			if len(sigs) == 0 {
				continue
			}
			mode := ModeAlert
			if i == 1 {
				mode = ModeShadow
			}
			for _, cs := range e.fold(st, ev, sigs, mode) {
				changed[cs.Finding.ID] = cs
			}
		}
		b.Observe(ev, cfg.Forget)
	}
	st.pruneCases(b.LastSeen, cfg.Windows.Dedupe)
	var ups []Update
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		cs := changed[id]
		cs.ensureFinding(cfg)
		routed := cs.Mode == ModeAlert && cs.Finding.Severity >= cfg.Routing.SNSMinSeverity
		kind := UpdateCount
		switch {
		case routed && cs.Routed < 0:
			kind = UpdateNew
		case routed && int(cs.Finding.Severity) > cs.Routed:
			kind = UpdateEscalated
		}
		if routed && int(cs.Finding.Severity) > cs.Routed {
			cs.Routed = int(cs.Finding.Severity)
			st.CasesDirty = true
		}
		ups = append(ups, Update{Finding: cs.Finding.clone(), Kind: kind, Routed: routed})
	}
	return ups, supp
}

func (e *Engine) suppressedBy(detector string, ev *events.Event) string {
	for i := range e.Config.Suppressions {
		s := &e.Config.Suppressions[i]
		if s.Expired(ev.Time) {
			continue
		}
		if s.Matches(detector, ev) {
			if s.Name != "" {
				return s.Name
			}
			return fmt.Sprintf("suppression #%d", i+1)
		}
	}
	return ""
}
