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
	// Forget is the forgetting period of the config the state was last
	// computed with: stores expire a principal this long after its last
	// event, so expiry follows the deployed config (forgetting.unseen_days).
	Forget time.Duration
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
	// Ticket is true when a routed finding also meets the ticket minimum
	// (Routing.Ticket): the notify subscription delivers only those.
	Ticket bool
}

// Delivered reports whether the update is sent on: a routed finding that is
// new or whose severity rose.
func (u Update) Delivered() bool {
	return u.Routed && (u.Kind == UpdateNew || u.Kind == UpdateEscalated)
}

// Publisher sends a delivered update on (the SNS findings topic in the
// detect function). It is declared here, where the engine calls it.
type Publisher interface {
	Publish(ctx context.Context, u Update) error
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
	// Future counts events skipped because their time lay more than
	// MaxSkew ahead of the engine's clock (see Engine.Clock).
	Future int
	// Deferred counts events not started because the context's deadline
	// was nearer than Engine.Reserve; they are also in Failed.
	Deferred int
	// Published lists what Publisher sent, in order.
	Published []Finding
	// PublishFailures counts publications that failed; the principal's
	// events are in Failed.
	PublishFailures int
	// Unusable counts principals whose stored state the store refused to
	// hand out (UnusableStates, e.g. written by a newer model); their
	// events are in Failed.
	Unusable int
}

// Engine runs the detectors over batches of events against stored state.
type Engine struct {
	Detectors []Detector
	Config    *Config
	Store     Store
	Log       *slog.Logger
	// MaxConflicts bounds reload-and-retry rounds per principal.
	MaxConflicts int
	// Publisher, when set, receives every delivered update of a principal
	// before that principal's state is saved: publish, then commit. If a
	// publication fails the state is not saved and the principal's events
	// are reported failed, so their redelivery publishes again; a plain
	// redelivery finds the finding already routed and publishes nothing.
	Publisher Publisher
	// Clock gives the time an event may not be ahead of by more than
	// MaxSkew: the wall clock in the deployed function and in replay (an
	// archived event can never lie in the future). Nil disables the check.
	Clock func() time.Time
	// MaxSkew bounds how far an event's time may lie ahead of Clock. Such
	// an event is skipped and counted (Result.Future) before it touches a
	// baseline, so a forged far-future eventTime cannot move a principal's
	// clock, run forgetting over its values or close its cases.
	MaxSkew time.Duration
	// Reserve is the least time before the context's deadline for which
	// the engine still starts a principal; principals not started are
	// reported failed (Result.Deferred), so a function returns their
	// messages for retry instead of timing out with finished work
	// unacknowledged.
	Reserve time.Duration
}

// DefaultMaxSkew is how far ahead of the clock an event may be dated.
// CloudTrail stamps events when AWS receives the call, and delivers them
// after: a legitimate event is never ahead of the clock by more than
// clock drift.
const DefaultMaxSkew = 15 * time.Minute

// NewEngine returns an engine with all detectors, the wall clock and
// DefaultMaxSkew.
func NewEngine(cfg *Config, store Store, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{Detectors: All(), Config: cfg, Store: store, Log: log, MaxConflicts: 8,
		Clock: time.Now, MaxSkew: DefaultMaxSkew}
}

// Process applies a batch of events: grouped per principal, each principal
// loaded once (one batched read), updated in event-time order, its
// delivered findings published (Publisher), then saved once with a
// conditional write. A principal whose write conflicts is reloaded and
// recomputed, so concurrent writers never lose updates and a value both see
// as new is reported once. Events dated beyond the clock's skew are
// skipped first; principals that cannot start before the deadline's
// reserve are deferred.
func (e *Engine) Process(ctx context.Context, evs []events.Event) (*Result, error) {
	res := &Result{Suppressed: map[string]int{}}
	evs = e.dropFuture(evs, res)
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
	var unusable UnusableStates
	switch {
	case errors.As(err, &unusable):
		// Principals whose stored state this binary must not touch (a
		// newer model): their events fail, loudly; the others go on.
		kept := keys[:0:0]
		for _, k := range keys {
			if reason, bad := unusable[k]; bad {
				e.Log.Error("principal state unusable; its events fail and are retried", "principal", k, "err", reason)
				res.Unusable++
				for _, ev := range groups[k] {
					res.Failed = append(res.Failed, ev.ID)
				}
				continue
			}
			kept = append(kept, k)
		}
		keys = kept
	case err != nil:
		return nil, fmt.Errorf("load baselines: %w", err)
	}
	// sent holds the severity published per finding in this call, so a
	// conflict's recomputation does not publish the same thing again.
	sent := map[string]Severity{}
	for i, k := range keys {
		if !e.timeLeft(ctx) {
			for _, k := range keys[i:] {
				for _, ev := range groups[k] {
					res.Failed = append(res.Failed, ev.ID)
				}
				res.Deferred += len(groups[k])
			}
			e.Log.Warn("deadline near: principals deferred to a retry", "principals", len(keys)-i)
			break
		}
		st := states[k]
		var updates []Update
		var supp map[string]int
		saved := false
		for attempt := 0; ; attempt++ {
			if st == nil {
				st = &State{Baseline: NewBaseline(k)}
			}
			updates, supp = e.apply(st, groups[k])
			// Publish, then commit: the state that marks a finding
			// routed is written only after the finding left.
			if err := e.publish(ctx, updates, sent, res); err != nil {
				e.Log.Error("finding not published; the principal's events will be retried", "principal", k, "err", err)
				break
			}
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

// dropFuture removes the events dated more than MaxSkew ahead of the clock.
func (e *Engine) dropFuture(evs []events.Event, res *Result) []events.Event {
	if e.Clock == nil || e.MaxSkew <= 0 {
		return evs
	}
	limit := e.Clock().Add(e.MaxSkew)
	kept := evs[:0:0]
	for i := range evs {
		if evs[i].Time.After(limit) {
			res.Future++
			e.Log.Warn("event skipped: dated in the future", "event_id", evs[i].ID, "principal", evs[i].Principal,
				"event_time", evs[i].Time, "limit", limit)
			continue
		}
		kept = append(kept, evs[i])
	}
	if res.Future == 0 {
		return evs
	}
	return kept
}

// timeLeft reports whether a principal may still be started: the context
// is live and its deadline, if any, is further away than Reserve.
func (e *Engine) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	d, ok := ctx.Deadline()
	return !ok || time.Until(d) > e.Reserve
}

// publish sends the delivered updates not yet sent in this call.
func (e *Engine) publish(ctx context.Context, ups []Update, sent map[string]Severity, res *Result) error {
	if e.Publisher == nil {
		return nil
	}
	for _, u := range ups {
		if !u.Delivered() {
			continue
		}
		if sev, ok := sent[u.Finding.ID]; ok && sev >= u.Finding.Severity {
			continue
		}
		if err := e.Publisher.Publish(ctx, u); err != nil {
			res.PublishFailures++
			return fmt.Errorf("finding %s: %w", u.Finding.ID, err)
		}
		sent[u.Finding.ID] = u.Finding.Severity
		res.Published = append(res.Published, u.Finding)
	}
	return nil
}

// apply folds a principal's events into its state and returns the findings
// that changed. It is deterministic: the same state and events give the same
// result, whichever process runs it.
func (e *Engine) apply(st *State, evs []*events.Event) ([]Update, map[string]int) {
	cfg := e.Config
	b := st.Baseline
	st.Forget = cfg.Forget
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
		ups = append(ups, Update{Finding: cs.Finding.clone(), Kind: kind, Routed: routed,
			Ticket: routed && cfg.Routing.Ticket(cs.Finding.Severity)})
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
