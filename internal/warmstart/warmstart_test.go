package warmstart

import (
	"testing"
	"time"
)

func TestOwnedBy(t *testing.T) {
	for _, c := range []struct {
		principal, account string
		want               bool
	}{
		{"111122223333:role/app", "111122223333", true},
		{"111122223333:user/alice", "111122223333", true},
		{"111122223333:root", "111122223333", true},
		{"777788889999:role/audit", "111122223333", false},
		{"1111222233334:role/x", "111122223333", false}, // not a prefix at the separator
		{"test:111122223333:role/x", "111122223333", false},
		{"111122223333", "111122223333", false},
	} {
		if got := OwnedBy(c.principal, c.account); got != c.want {
			t.Errorf("OwnedBy(%q, %q) = %v, want %v", c.principal, c.account, got, c.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	for _, c := range []struct {
		since, until string
		from, to     time.Time
		bad          bool
	}{
		{"2026-09-01", "2026-12-01", day("2026-09-01"), day("2026-12-02"), false},
		{"2026-09-01T06:00:00Z", "2026-09-01T07:00:00+01:00", day("2026-09-01").Add(6 * time.Hour), day("2026-09-01").Add(6 * time.Hour), true},
		{"2026-09-01T06:00:00Z", "2026-09-01T08:00:00Z", day("2026-09-01").Add(6 * time.Hour), day("2026-09-01").Add(8 * time.Hour), false},
		{"2026-09-02", "2026-09-01", time.Time{}, time.Time{}, true},
		{"yesterday", "2026-09-01", time.Time{}, time.Time{}, true},
	} {
		from, to, err := ParseRange(c.since, c.until)
		if (err != nil) != c.bad {
			t.Errorf("ParseRange(%q, %q): %v", c.since, c.until, err)
			continue
		}
		if !c.bad && (!from.Equal(c.from) || !to.Equal(c.to)) {
			t.Errorf("ParseRange(%q, %q) = %v, %v; want %v, %v", c.since, c.until, from, to, c.from, c.to)
		}
	}
}
