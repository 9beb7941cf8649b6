package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
)

// loadSample reads svc-backup's history and the stolen-access-key attack.
func loadSample(t testing.TB) sample {
	a := lambdatest.LoadAttack(t, "testdata")
	return sample{history: a.History, attack: a.Attack}
}

type sample struct{ history, attack []json.RawMessage }

// fakePublisher records publications; fail, when set, decides per call.
type fakePublisher struct {
	mu   sync.Mutex
	got  []detectors.Finding
	fail func(n int, f detectors.Finding) error
	n    int
}

func (p *fakePublisher) Publish(_ context.Context, u detectors.Update) error {
	f := u.Finding
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.fail != nil {
		if err := p.fail(p.n, f); err != nil {
			return err
		}
	}
	p.got = append(p.got, f)
	return nil
}

func (p *fakePublisher) findings() []detectors.Finding {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]detectors.Finding(nil), p.got...)
}

// staticConfig always hands out the same config.
type staticConfig struct{ cfg *detectors.Config }

func (s staticConfig) Get(context.Context) (*detectors.Config, error) { return s.cfg, nil }

// failingStore fails every Load, like an unreachable DynamoDB.
type failingStore struct{}

func (failingStore) Load(context.Context, []string) (map[string]*detectors.State, error) {
	return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
}
func (failingStore) Save(context.Context, *detectors.State) error { return nil }

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newTestHandler returns a handler over store and pub with the default
// config; logs and metrics go to the returned buffer.
func newTestHandler(store detectors.Store, pub detectors.Publisher) (*handler, *syncBuffer) {
	out := &syncBuffer{}
	log := lambdaenv.Logger(out, slog.LevelDebug)
	return &handler{
		store: store, publisher: pub, configs: staticConfig{config.Default()},
		log: log, metrics: &emf.Writer{W: out}, margin: defaultMargin, reserve: defaultReserve,
	}, out
}

// invoke runs the handler through the Lambda runtime's handler wrapper,
// as lambda.Start would, with a request ID in the context.
func invoke(t testing.TB, h *handler, ev lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	t.Helper()
	resp, err := invokeErr(h, ev)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	return resp
}

func invokeErr(h *handler, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	payload, err := json.Marshal(ev)
	if err != nil {
		return resp, err
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-test-1"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	if err != nil {
		return resp, err
	}
	err = json.Unmarshal(out, &resp)
	return resp, err
}

func sqsBatches(prefix string, recs []json.RawMessage, size int) []lambdaevents.SQSEvent {
	return lambdatest.SQSBatches(prefix, recs, size, "trailwatch-events")
}

func sqsMessage(id, body string) lambdaevents.SQSMessage {
	return lambdatest.SQSMessage(id, body, "trailwatch-events")
}
