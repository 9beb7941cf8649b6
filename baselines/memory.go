package baselines

import (
	"context"
	"sync"

	"github.com/trailwatch/trailwatch/detectors"
)

// Memory keeps principal states in process memory. It is safe for
// concurrent use; states are handed out by reference, so callers must not
// share a loaded state between goroutines.
type Memory struct {
	mu     sync.Mutex
	states map[string]*detectors.State
}

var _ detectors.Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{states: map[string]*detectors.State{}}
}

// Load implements detectors.Store.
func (m *Memory) Load(_ context.Context, keys []string) (map[string]*detectors.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*detectors.State, len(keys))
	for _, k := range keys {
		if st, ok := m.states[k]; ok {
			out[k] = st
		}
	}
	return out, nil
}

// Save implements detectors.Store. States are held by reference, so a
// save only registers new principals and advances the version.
func (m *Memory) Save(_ context.Context, st *detectors.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := st.Baseline.Key
	cur, ok := m.states[key]
	if ok && cur != st && cur.Version != st.Version {
		return detectors.ErrConflict
	}
	st.Version++
	st.Baseline.ColdDirty = false
	st.CasesDirty = false
	m.states[key] = st
	return nil
}

// Len returns the number of principals stored.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.states)
}

// Each calls fn for every stored state, in no particular order.
func (m *Memory) Each(fn func(*detectors.State)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range m.states {
		fn(st)
	}
}
