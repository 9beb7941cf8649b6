package warmstart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// Job is one backfill: a sequence of archive events into one table.
type Job struct {
	// Table is the DynamoDB table; Client reads and writes its checkpoint
	// item; Store is the baseline store on the same table.
	Table  string
	Client TableAPI
	Store  detectors.Store
	// Config is the detection config the deployed stack uses.
	Config *detectors.Config
	Log    *slog.Logger
	// Reader reads Paths: its Since and Until are the range (both
	// required), its Window the reorder window.
	Reader *events.Reader
	Paths  []string
	// BatchSize is the events per engine batch, 1 to
	// detectors.RecentEventIDs.
	BatchSize int
	// Account, when set, scopes the job to one account's principals
	// (OwnedBy): the events of other accounts' principals are skipped and
	// counted, and the newer-state check looks at its principals only.
	Account string
	// AllowNewer writes even into a table holding newer state.
	AllowNewer bool
	// NewerHint ends a NewerStateError's message.
	NewerHint string
	// Reserve: when ctx has a deadline, the run stops after the first
	// checkpoint saved less than Reserve before it (Result.Stopped). Zero:
	// it runs until done, or until ctx ends (an error).
	Reserve time.Duration
	// Applied, when set, follows the events applied (for a progress bar).
	Applied *atomic.Int64
	// AfterBatch, when set, is called after each checkpoint with the
	// events applied.
	AfterBatch func(applied int64)
	// Started, when set, is called when the checks are passed and reading
	// begins.
	Started func()
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Result is what a run did.
type Result struct {
	// ID is the backfill's checkpoint ID.
	ID string
	// Applied is the events applied by this and earlier runs of the same
	// backfill; Resumed those applied before this run.
	Applied, Resumed int64
	// Principals is the principals written by this run.
	Principals int
	// Done: the whole range is applied. AlreadyDone: it was before this
	// run, which did nothing.
	Done, AlreadyDone bool
	// Stopped: the run stopped before the deadline, after saving its
	// checkpoint; run it again to continue.
	Stopped bool
	// OtherAccount is the events of other accounts' principals skipped
	// (account-scoped jobs).
	OtherAccount int64
	// RCU and WCU are the capacity the checkpoint and the newer-state
	// check consumed (the store counts its own).
	RCU, WCU float64
}

// ErrInterrupted is returned when ctx ends before the range is applied.
var ErrInterrupted = errors.New("interrupted: run the same backfill again to resume")

// ErrNoProgress is returned when a run stops for its deadline before it
// applied a single new event: skipping what earlier runs applied took the
// whole time, and running it again would do the same.
var ErrNoProgress = errors.New("no progress before the deadline: re-reading the events applied by earlier runs takes the whole time; allow more time per run, or split the range")

// Run runs the job: it applies what earlier runs of the same job have not,
// saving a checkpoint after each batch.
func Run(ctx context.Context, j *Job) (*Result, error) {
	rd := j.Reader
	if rd == nil || rd.Since.IsZero() || rd.Until.IsZero() {
		return nil, errors.New("backfill needs a range (since and until)")
	}
	if j.BatchSize < 1 || j.BatchSize > detectors.RecentEventIDs {
		return nil, fmt.Errorf("batch size %d: want 1 to %d (a batch re-applied after an interruption must be recognized)", j.BatchSize, detectors.RecentEventIDs)
	}
	now := j.Now
	if now == nil {
		now = time.Now
	}
	var stopAt time.Time
	if d, ok := ctx.Deadline(); ok && j.Reserve > 0 {
		stopAt = d.Add(-j.Reserve)
	}
	late := func() bool { return !stopAt.IsZero() && !now().Before(stopAt) }
	applied := j.Applied
	if applied == nil {
		applied = new(atomic.Int64)
	}

	run := &progress{client: j.Client, table: j.Table, account: j.Account, since: rd.Since, until: rd.Until,
		id: ID(j.Paths, rd.Since, rd.Until, j.BatchSize, rd.Window)}
	res := &Result{ID: run.id}
	capacity := func() { res.RCU, res.WCU = run.rcu, run.wcu }
	defer capacity()

	cp, err := run.load(ctx)
	if err != nil {
		return res, err
	}
	res.Resumed = cp.Applied
	if cp.Done {
		res.Applied, res.Done, res.AlreadyDone = cp.Applied, true, true
		applied.Store(cp.Applied)
		return res, nil
	}
	if !j.AllowNewer {
		if err := run.checkNewer(ctx, j.Store, cp.Exists, j.NewerHint); err != nil {
			return res, err
		}
	}
	if !cp.Exists {
		// Started: a run cut within its first batch is a resumption.
		if err := run.save(ctx, checkpoint{}); err != nil {
			return res, err
		}
	}

	eng := detectors.NewEngine(j.Config, j.Store, j.Log)
	// No Publisher: nothing leaves. The engine keeps the history's cases
	// in the baselines as the detect function would, so going live does
	// not page again for them.
	applied.Store(cp.Applied)
	if j.Started != nil {
		j.Started()
	}
	principals := map[string]struct{}{}
	var (
		pos                       int64 // events yielded by the reader, of the scope
		batch                     = make([]events.Event, 0, j.BatchSize)
		runErr, readErr           error
		skipped, checked, stopped bool
	)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		r, err := eng.Process(ctx, batch)
		if err != nil {
			runErr = err
			return false
		}
		if len(r.Failed) > 0 {
			if ctx.Err() != nil {
				runErr = ErrInterrupted
			} else {
				runErr = fmt.Errorf("%d events of a batch could not be saved (see the log); run the same backfill again to resume", len(r.Failed))
			}
			return false
		}
		last := batch[len(batch)-1]
		for i := range batch {
			principals[batch[i].Principal] = struct{}{}
		}
		if err := run.save(ctx, checkpoint{Applied: pos, LastID: last.ID, LastTime: last.Time}); err != nil {
			runErr = err
			return false
		}
		applied.Store(pos)
		batch = batch[:0]
		if j.AfterBatch != nil {
			j.AfterBatch(pos)
		}
		return true
	}
	for ev := range rd.EventsContext(ctx, j.Paths, &readErr) {
		if ctx.Err() != nil {
			runErr = ErrInterrupted
			break
		}
		if j.Account != "" && !OwnedBy(ev.Principal, j.Account) {
			res.OtherAccount++
			continue
		}
		pos++
		if pos <= cp.Applied {
			// Applied by an earlier run: the sequence is deterministic
			// for the same inputs, so the checkpoint's last event must
			// sit at the same position.
			if pos == cp.Applied {
				checked = true
				if ev.ID != cp.LastID {
					runErr = fmt.Errorf("the archive changed since the interrupted run: event %d is %s, the checkpoint says %s; backfill into an empty table", pos, ev.ID, cp.LastID)
					break
				}
			}
			skipped = true
			if pos%1024 == 0 && late() {
				stopped = true
				break
			}
			continue
		}
		batch = append(batch, ev)
		if len(batch) == j.BatchSize {
			if !flush() {
				break
			}
			if late() {
				stopped = true
				break
			}
		}
	}
	if stopped && runErr == nil && readErr == nil {
		res.Applied, res.Principals, res.Stopped = applied.Load(), len(principals), true
		if res.Applied == cp.Applied {
			return res, ErrNoProgress
		}
		if j.Log != nil {
			j.Log.InfoContext(ctx, "backfill stopped before the deadline; run it again to continue",
				"backfill", run.id, "applied", res.Applied, "resumed", res.Resumed)
		}
		return res, nil
	}
	if runErr == nil && readErr == nil {
		if ctx.Err() != nil {
			runErr = ErrInterrupted
		} else if flush() && skipped && !checked {
			runErr = fmt.Errorf("the archive changed since the interrupted run: it holds fewer than the %d events already applied; backfill into an empty table", cp.Applied)
		}
	}
	if runErr == nil && readErr == nil {
		final := checkpoint{Applied: pos, Done: true}
		if c, err := run.load(ctx); err == nil {
			final.LastID, final.LastTime = c.LastID, c.LastTime
		}
		if err := run.save(ctx, final); err != nil {
			runErr = err
		}
	}
	res.Applied = applied.Load()
	res.Principals = len(principals)
	res.Done = runErr == nil && readErr == nil
	if readErr != nil {
		return res, fmt.Errorf("%w (run the same backfill again to resume)", readErr)
	}
	return res, runErr
}
