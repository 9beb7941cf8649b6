package main

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/emf"
)

const (
	networksSource = "../../testdata/networks/thresholds.yaml"
	// networksDeployed is what the CDK app deploys for networksSource, its
	// network files inlined (infra/internal/thresholds
	// TestResolveNetworksFile).
	networksDeployed = "../../testdata/networks/deployed-thresholds.yaml"
	networksEvents   = "../../testdata/networks/events.jsonl"
	// networksExpected is the network key of each event, which replay's
	// test (cmd/trailwatch TestReplayNetworksParity) holds replay to.
	networksExpected = "../../testdata/networks/expected-networks.json"
)

func readFile(t *testing.T, path, hint string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v%s", err, hint)
	}
	return b
}

// networkBatch is the parity events as one SQS batch, with event IDs
// suffixed (a second batch of the same calls is not a redelivery).
func networkBatch(t *testing.T, suffix string) (recs []json.RawMessage) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, networksEvents, ""))), "\n") {
		recs = append(recs, json.RawMessage(strings.Replace(line, `"eventID": "net-`, `"eventID": "net`+suffix+`-`, 1)))
	}
	return recs
}

// networkKeys returns the network values of each principal's baseline.
func networkKeys(t *testing.T, store *baselines.Memory, principals []string) map[string][]string {
	t.Helper()
	states, err := store.Load(context.Background(), principals)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range principals {
		st, ok := states[p]
		if !ok {
			continue
		}
		for k := range st.Baseline.Dims[detectors.DimNetwork].Values {
			out[p] = append(out[p], k)
		}
		sort.Strings(out[p])
	}
	return out
}

func expectedByPrincipal(t *testing.T) map[string]string {
	t.Helper()
	var want map[string]struct{ Principal, Network string }
	if err := json.Unmarshal(readFile(t, networksExpected, ""), &want); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, w := range want {
		out[w.Principal] = w.Network
	}
	return out
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDeployedNetworksClassify: the config the CDK app deploys for
// testdata/networks/thresholds.yaml (its network files inlined and
// compacted at synth), read from SSM, holds exactly the networks
// `trailwatch validate` and `replay --config` read from the source and its
// files, and the handler classifies each parity event as
// expected-networks.json says, as replay does (TestReplayNetworksParity).
func TestDeployedNetworksClassify(t *testing.T) {
	deployed := readFile(t, networksDeployed, ": generate it with `cd infra && go test ./internal/thresholds -run TestResolveNetworksFile -update`")
	api := &fakeSSM{name: "/trailwatch/thresholds", value: string(deployed)}
	src := &configSource{client: api, name: api.name, ttl: time.Minute, now: time.Now, log: discardLog(), metrics: &emf.Writer{W: &syncBuffer{}}}
	cfg, err := src.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NamedNetworks == nil {
		t.Fatal("the deployed config was rejected or names no network (see the error log)")
	}
	local, _, err := config.Load(networksSource, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Networks, local.Networks) {
		t.Errorf("deployed networks differ from the source's:\ndeployed %v\nsource   %v", cfg.Networks, local.Networks)
	}

	store := baselines.NewMemory()
	h, _ := newTestHandler(store, &fakePublisher{})
	h.configs = src
	for _, b := range sqsBatches("net", networkBatch(t, ""), 10) {
		invoke(t, h, b)
	}
	want := expectedByPrincipal(t)
	got := networkKeys(t, store, keysOf(want))
	for p, w := range want {
		if !reflect.DeepEqual(got[p], []string{w}) {
			t.Errorf("%s: networks %v, want [%s]", p, got[p], w)
		}
	}
}

// TestConfigReloadChangesNetworks: a config reloaded from SSM with named
// networks changes how the next batch's calls are classified, in the same
// process (no cold start), and the compiled networks are reused while the
// parameter is unchanged.
func TestConfigReloadChangesNetworks(t *testing.T) {
	deployed := readFile(t, networksDeployed, ": generate it with `cd infra && go test ./internal/thresholds -run TestResolveNetworksFile -update`")
	clock := time.Now()
	api := &fakeSSM{name: "/p", value: "version: 1\n"}
	store := baselines.NewMemory()
	h, out := newTestHandler(store, &fakePublisher{})
	h.configs = &configSource{client: api, name: "/p", ttl: time.Minute, now: func() time.Time { return clock }, log: h.log, metrics: h.metrics}
	want := expectedByPrincipal(t)
	principals := keysOf(want)

	invoke(t, h, sqsBatches("before", networkBatch(t, "a"), 20)[0])
	before := networkKeys(t, store, principals)
	if got := before["111122223333:role/ci-01"]; !reflect.DeepEqual(got, []string{"4.148.10.0/24"}) {
		t.Fatalf("without networks ci-01 called from %v, want its /24", got)
	}

	api.set(string(deployed))
	clock = clock.Add(2 * time.Minute)
	invoke(t, h, sqsBatches("after", networkBatch(t, "b"), 20)[0])
	if !strings.Contains(out.String(), "config reloaded") {
		t.Error("no reload log")
	}
	after := networkKeys(t, store, principals)
	changed := 0
	for p, w := range want {
		if !strings.HasPrefix(w, "net/") {
			// Not in a named network: the same key both times.
			if !reflect.DeepEqual(after[p], before[p]) {
				t.Errorf("%s: %v, then %v", p, before[p], after[p])
			}
			continue
		}
		changed++
		if len(before[p]) != 1 || strings.HasPrefix(before[p][0], "net/") || !contains(after[p], w) || len(after[p]) != 2 {
			t.Errorf("%s: networks %v before the reload, %v after; want its address, then also %s", p, before[p], after[p], w)
		}
	}
	if changed < 5 {
		t.Errorf("only %d events in named networks: the test is too weak", changed)
	}

	cfg1, _ := h.configs.Get(context.Background())
	clock = clock.Add(2 * time.Minute)
	cfg2, _ := h.configs.Get(context.Background())
	if cfg1.NamedNetworks == nil || cfg1.NamedNetworks != cfg2.NamedNetworks {
		t.Error("the named networks are rebuilt although the parameter is unchanged")
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
