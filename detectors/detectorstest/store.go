package detectorstest

import (
	"context"
	"sync"

	"github.com/trailwatch/trailwatch/detectors"
)

// CodecStore is an in-memory store that, like DynamoDB and unlike
// baselines.Memory, keeps encoded copies: a state whose Save failed (or
// was never called) stays as it was stored. Versions are checked as
// DynamoDB's condition does.
type CodecStore struct {
	mu    sync.Mutex
	items map[string]codecItem
	saves int
}

type codecItem struct {
	hot, cold, cases []byte
	version          int64
}

var _ detectors.Store = (*CodecStore)(nil)

// NewCodecStore returns an empty CodecStore.
func NewCodecStore() *CodecStore { return &CodecStore{items: map[string]codecItem{}} }

// Load implements detectors.Store.
func (s *CodecStore) Load(_ context.Context, keys []string) (map[string]*detectors.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*detectors.State{}
	for _, k := range keys {
		it, ok := s.items[k]
		if !ok {
			continue
		}
		b, err := detectors.DecodeBaseline(it.hot, it.cold)
		if err != nil {
			return nil, err
		}
		cases, err := detectors.DecodeCases(it.cases)
		if err != nil {
			return nil, err
		}
		out[k] = &detectors.State{Baseline: b, Cases: cases, Version: it.version}
	}
	return out, nil
}

// Save implements detectors.Store.
func (s *CodecStore) Save(_ context.Context, st *detectors.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items[st.Baseline.Key].version != st.Version {
		return detectors.ErrConflict
	}
	cases, err := detectors.EncodeCases(st.Cases)
	if err != nil {
		return err
	}
	st.Version++
	s.items[st.Baseline.Key] = codecItem{hot: st.Baseline.EncodeHot(), cold: st.Baseline.EncodeCold(), cases: cases, version: st.Version}
	s.saves++
	return nil
}

// Saves counts successful saves.
func (s *CodecStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// Bytes returns what is stored for key (hot, cold and cases parts joined),
// or nil, for comparing states byte for byte.
func (s *CodecStore) Bytes(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		return nil
	}
	out := append([]byte(nil), it.hot...)
	out = append(out, 0)
	out = append(out, it.cold...)
	out = append(out, 0)
	return append(out, it.cases...)
}
