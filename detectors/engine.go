package detectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
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
	// Recording, when set, keeps every applied event's raw signals (see
	// Recording); nil in production and in replay, where it costs nothing.
	// It is meant for a single pass with the memory store: a conflict's
	// recomputation would record a principal's events twice.
	Recording *Recording
	// Calibration, when set, measures the novelty estimate against what
	// mature principals did (see Calibration); nil in production.
	Calibration *Calibration
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
// result, whichever process runs it. The detectors see the baseline as it
// was before each event; everything after them (thresholds, suppressions,
// modes, case folding, severity, routing) is foldEvent and finish, which
// Recording.Refold shares.
func (e *Engine) apply(st *State, evs []*events.Event) ([]Update, map[string]int) {
	cfg := e.Config
	b := st.Baseline
	st.Forget = cfg.Forget
	name := DisplayName(b.Key)
	fo := folding{supp: map[string]int{}, changed: map[string]*Case{}}
	var raw []Signal
	for _, ev := range evs {
		if b.SeenEvent(ev.ID) {
			// A redelivered event: already in the baseline and in any
			// finding it caused.
			continue
		}
		c := &Context{Baseline: b, Mature: b.Mature(cfg.Learning, ev.Time), Config: cfg, Name: name}
		raw = raw[:0]
		for _, d := range e.Detectors {
			if cfg.Detector(d.ID()).Mode == ModeOff {
				continue
			}
			raw = append(raw, d.Check(c, ev)...)
		}
		if e.Recording != nil {
			e.Recording.record(ev, raw)
		}
		e.foldEvent(st, ev, raw, &fo)
		res := ""
		if ev.ErrClass != events.ErrDenied {
			res = c.Resource(ev)
		}
		if e.Calibration != nil && c.Mature {
			e.Calibration.observe(b, ev, res)
		}
		b.observe(ev, cfg.Forget, res)
		for i := range raw {
			if raw[i].Learn != "" {
				b.see(DimRisk, raw[i].Learn, dayOf(ev.Time))
			}
		}
	}
	if e.Recording != nil {
		e.Recording.endGroup(b.Key, b.LastSeen)
	}
	return e.finish(st, b.LastSeen, &fo), fo.supp
}

// folding is what foldEvent gathers over a principal's events.
type folding struct {
	supp    map[string]int
	changed map[string]*Case
}

// foldEvent applies the config to one event's raw signals (the detectors'
// output, in detector order): each signal below its detector's threshold,
// of a detector turned off, or matched by a suppression is dropped; the
// rest fold into the principal's cases, alert and shadow apart.
func (e *Engine) foldEvent(st *State, ev *events.Event, raw []Signal, fo *folding) {
	cfg := e.Config
	var alert, shadow []Signal
	for _, s := range raw {
		dc := cfg.Detector(s.Detector)
		if dc.Mode == ModeOff || s.Score < dc.Threshold {
			continue
		}
		if n := e.suppressedBy(s.Detector, ev); n != "" {
			fo.supp[n]++
			continue
		}
		if dc.Mode == ModeShadow {
			shadow = append(shadow, s)
		} else {
			alert = append(alert, s)
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
			fo.changed[cs.Finding.ID] = cs
		}
	}
}

// finish prunes the principal's cases as of lastSeen (its baseline's clock
// after the events) and returns the changed findings with their routing.
func (e *Engine) finish(st *State, lastSeen int64, fo *folding) []Update {
	cfg := e.Config
	st.pruneCases(lastSeen, cfg.Windows.Dedupe)
	var ups []Update
	ids := make([]string, 0, len(fo.changed))
	for id := range fo.changed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		cs := fo.changed[id]
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
	return ups
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

// Recording is the signal stream of one pass over an archive: per batch and
// principal, the events applied and every signal the detectors raised for
// them, before thresholds, suppressions and modes. The detectors' signals
// depend only on the baselines, which no threshold, band, mode, suppression
// or routing setting changes, so Refold can replay the case folding under
// another such config without reading the archive or running a detector
// again. It is not safe for concurrent use.
type Recording struct {
	// MinScore drops signals scoring below it when recording: a sweep that
	// never sets a threshold below MinScore needs none of them.
	MinScore float64
	groups   []recordedGroup
	cur      []recordedEvent
	events   int
	signals  int
}

type recordedGroup struct {
	principal string
	events    []recordedEvent
	// lastSeen is the principal's baseline clock after the batch: where
	// apply prunes its cases.
	lastSeen int64
}

type recordedEvent struct {
	ev      events.Event
	signals []Signal
}

// record keeps a slim copy of the event (what folding, suppressions and
// findings read) and of its signals at or above MinScore. An event left
// with no signal is only counted: folding does nothing with it, so memory
// grows with signals, not events.
func (r *Recording) record(ev *events.Event, raw []Signal) {
	r.events++
	var kept []Signal
	for _, s := range raw {
		if s.Score >= r.MinScore {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return
	}
	c := strings.Clone
	slim := events.Event{Time: ev.Time, ID: c(ev.ID), Account: c(ev.Account), Region: c(ev.Region), Service: c(ev.Service),
		API: c(ev.API), Principal: c(ev.Principal), PrincipalARN: c(ev.PrincipalARN), Network: ev.Network}
	if ev.Record != nil {
		slim.Record = &events.Record{SourceIPAddress: c(ev.Record.SourceIPAddress)}
	}
	r.cur = append(r.cur, recordedEvent{ev: slim, signals: kept})
	r.signals += len(kept)
}

func (r *Recording) endGroup(principal string, lastSeen int64) {
	r.groups = append(r.groups, recordedGroup{principal: principal, events: r.cur, lastSeen: lastSeen})
	r.cur = nil
}

// Events returns how many events were applied while recording.
func (r *Recording) Events() int { return r.events }

// Signals returns how many signals were recorded.
func (r *Recording) Signals() int { return r.signals }

// EachSignal calls fn with every recorded signal and its event, in order.
func (r *Recording) EachSignal(fn func(ev *events.Event, s *Signal)) {
	for gi := range r.groups {
		g := &r.groups[gi]
		for ei := range g.events {
			re := &g.events[ei]
			for si := range re.signals {
				fn(&re.ev, &re.signals[si])
			}
		}
	}
}

// Refold replays the recorded stream under cfg from empty case state and
// calls emit with every update, in the order Process would have returned
// them: the same folding code (foldEvent, finish) as a pass with cfg, so
// its findings are that pass's. cfg must differ from the recording's config
// only in what the detectors do not read: detector thresholds (not below
// MinScore), severity bands, modes (a detector off when recording has no
// signals to turn on), suppressions and routing. It returns the signals
// suppressed, by suppression name.
func (r *Recording) Refold(cfg *Config, emit func(Update)) map[string]int {
	e := &Engine{Config: cfg}
	states := map[string]*State{}
	supp := map[string]int{}
	for gi := range r.groups {
		g := &r.groups[gi]
		st := states[g.principal]
		if st == nil {
			st = &State{}
			states[g.principal] = st
		}
		fo := folding{supp: supp, changed: map[string]*Case{}}
		for ei := range g.events {
			re := &g.events[ei]
			e.foldEvent(st, &re.ev, re.signals, &fo)
		}
		for _, u := range e.finish(st, g.lastSeen, &fo) {
			emit(u)
		}
	}
	return supp
}
