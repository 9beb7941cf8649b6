package events_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/trailwatch/trailwatch/events"
)

// TestSelectionCredentialAccessReads runs testdata/selection/cases.jsonl:
// each record with whether the production selection takes it and whether
// it is taken with selection.credential_access_reads on, through both
// Selection.Selects and the normalizer's NormalizeSelected (skip reason
// not_selected when not taken).
func TestSelectionCredentialAccessReads(t *testing.T) {
	f, err := os.Open("testdata/selection/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct {
			Name        string          `json:"name"`
			Production  bool            `json:"production"`
			Credentials bool            `json:"credential_access_reads"`
			Record      json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("case %d: %v", n+1, err)
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			var r events.Record
			if err := json.Unmarshal(c.Record, &r); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				sel  events.Selection
				want bool
			}{{events.Selection{}, c.Production}, {events.Selection{CredentialAccessReads: true}, c.Credentials}} {
				if got := tc.sel.Selects(&r); got != tc.want {
					t.Errorf("%+v: Selects = %v, want %v", tc.sel, got, tc.want)
				}
				norm := &events.Normalizer{Selection: tc.sel}
				ev, err := norm.NormalizeSelected(&r)
				var se *events.SkipError
				switch {
				case tc.want && err != nil:
					t.Errorf("%+v: NormalizeSelected: %v", tc.sel, err)
				case tc.want && !ev.Selected:
					t.Errorf("%+v: event not marked selected", tc.sel)
				case !tc.want && (!errors.As(err, &se) || se.Reason != events.SkipNotSelected):
					t.Errorf("%+v: NormalizeSelected error %v, want %s", tc.sel, err, events.SkipNotSelected)
				}
			}
			if got := events.Selected(&r); got != c.Production {
				t.Errorf("production Selected = %v, want %v", got, c.Production)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d cases read", n)
	}
	if got := events.CredentialAccessReads(); len(got) != 7 || got[0] != "ec2:GetPasswordData" {
		t.Errorf("CredentialAccessReads() = %v", got)
	}
}
