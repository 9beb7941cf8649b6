package main

import (
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/trailwatch/trailwatch/events"
)

const (
	networksConfig   = "../../testdata/networks/thresholds.yaml"
	networksEvents   = "../../testdata/networks/events.jsonl"
	networksExpected = "../../testdata/networks/expected-networks.json"
)

// expectedNetworks reads the network key each parity event must get, by
// event ID, with its principal. The detect function's test
// (TestDeployedNetworksClassify) holds its handler to the same file, so
// replay and the deployed function classify alike.
func expectedNetworks(t *testing.T) map[string]struct{ Principal, Network string } {
	t.Helper()
	b, err := os.ReadFile(networksExpected)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct{ Principal, Network string }
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestReplayNetworksParity: replay's config loader and input normalizer,
// given thresholds.yaml with named networks read from files (GitHub meta,
// AWS ip-ranges, a CIDR list with inline CIDRs), classify each event as
// testdata/networks/expected-networks.json says.
func TestReplayNetworksParity(t *testing.T) {
	cfg, err := loadConfig(networksConfig, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	norm, err := inputNormalizer(cfg, "", []string{networksEvents})
	if err != nil {
		t.Fatal(err)
	}
	if norm.Networks == nil || norm.Networks.Len() == 0 {
		t.Fatal("replay's normalizer has no named networks")
	}
	want := expectedNetworks(t)
	got := map[string]string{}
	var readErr error
	rd := &events.Reader{Normalizer: norm, Window: 16384}
	for ev := range rd.Events([]string{networksEvents}, &readErr) {
		got[ev.ID] = ev.Network.Key
		if w, ok := want[ev.ID]; ok && w.Principal != ev.Principal {
			t.Errorf("%s: principal %s, want %s", ev.ID, ev.Principal, w.Principal)
		}
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(got) != len(want) {
		t.Errorf("%d events read, want %d", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w.Network {
			t.Errorf("%s: network %q, want %q", id, got[id], w.Network)
		}
	}
	// And the replay command itself runs with that config.
	if _, stderr, err := replay(t, "--config", networksConfig, networksEvents); err != nil {
		t.Errorf("replay --config %s: %v\n%s", networksConfig, err, stderr)
	}
}
