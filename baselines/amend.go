package baselines

import (
	"context"
	"errors"
	"fmt"

	"github.com/trailwatch/trailwatch/detectors"
)

// maxAmendAttempts bounds the reload-and-reapply rounds of Amend.
const maxAmendAttempts = 8

// ErrNoBaseline is returned by Amend for a principal the store does not
// hold.
var ErrNoBaseline = errors.New("no baseline stored for this principal")

// Amend changes one principal's stored state under the store's optimistic
// concurrency, as the engine does: it loads the state, lets edit change it
// (edit returns a line per change), and saves it conditionally; if the
// detect function wrote the principal in between, the save conflicts and
// Amend reloads and edits again, so neither the analyst's change nor the
// function's events are lost. With dryRun nothing is written. It returns
// the changes of the edit that was saved (or would have been).
func Amend(ctx context.Context, s detectors.Store, key string, dryRun bool, edit func(*detectors.State) []string) ([]string, error) {
	for attempt := 1; ; attempt++ {
		states, err := s.Load(ctx, []string{key})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", key, err)
		}
		st := states[key]
		if st == nil {
			return nil, fmt.Errorf("%s: %w", key, ErrNoBaseline)
		}
		changes := edit(st)
		if dryRun || len(changes) == 0 {
			return changes, nil
		}
		err = s.Save(ctx, st)
		if err == nil {
			return changes, nil
		}
		if !errors.Is(err, detectors.ErrConflict) || attempt >= maxAmendAttempts {
			return nil, fmt.Errorf("save %s: %w", key, err)
		}
	}
}
