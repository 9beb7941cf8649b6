package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplaySelectionConfig: replay honours thresholds.yaml
// selection.credential_access_reads as the deployed function does: the
// records of events/testdata/selection/cases.jsonl are selected exactly
// as each case says, with the key absent and with it on.
func TestReplaySelectionConfig(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "events", "testdata", "selection", "cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	var lines []string
	production, withReads := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c struct {
			Production  bool            `json:"production"`
			Credentials bool            `json:"credential_access_reads"`
			Record      json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(c.Record))
		if c.Production {
			production++
		}
		if c.Credentials {
			withReads++
		}
	}
	if production == withReads {
		t.Fatal("the fixture does not tell the two selections apart")
	}
	input := filepath.Join(dir, "reads.jsonl")
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	on := filepath.Join(dir, "on.yaml")
	if err := os.WriteFile(on, []byte("version: 1\nselection:\n  credential_access_reads: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"default", nil, production},
		{"credential_access_reads", []string{"--config", on}, withReads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := replay(t, append(tc.args, "--min-severity", "INFO", input)...)
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			if want := fmt.Sprintf("events selected:   %d ", tc.want); !strings.Contains(stderr, want) {
				t.Errorf("summary lacks %q:\n%s", want, stderr)
			}
		})
	}
}
