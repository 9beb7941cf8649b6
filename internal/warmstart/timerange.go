package warmstart

import (
	"fmt"
	"strings"
	"time"
)

// ParseRange parses a backfill's range: a day (2006-01-02, UTC) or an
// RFC 3339 time each. since is inclusive; until a day includes that whole
// day, until a time is exclusive. Either may be empty (zero).
func ParseRange(since, until string) (from, to time.Time, err error) {
	if since != "" {
		if from, err = ParseWhen(since, false); err != nil {
			return from, to, fmt.Errorf("since: %w", err)
		}
	}
	if until != "" {
		if to, err = ParseWhen(until, true); err != nil {
			return from, to, fmt.Errorf("until: %w", err)
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, fmt.Errorf("since %s is not before until %s", since, until)
	}
	return from, to, nil
}

// ParseWhen parses one end of a range: a day (the start of that day, or
// with end the start of the next) or an RFC 3339 time.
func ParseWhen(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.Parse("2006-01-02", s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a day (2006-01-02) nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
