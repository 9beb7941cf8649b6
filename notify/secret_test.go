package notify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// fakeSecretsManager is an in-memory Secrets Manager.
type fakeSecretsManager struct {
	mu     sync.Mutex
	values map[string]string
	calls  atomic.Int32
	err    error
}

func (f *fakeSecretsManager) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[*in.SecretId]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: secret not found")
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, Name: in.SecretId, SecretString: &v}, nil
}

func (f *fakeSecretsManager) set(id, v string) {
	f.mu.Lock()
	f.values[id] = v
	f.mu.Unlock()
}

var _ SecretsManagerAPI = (*fakeSecretsManager)(nil)

func TestSecretSourceCachesWithTTL(t *testing.T) {
	fake := &fakeSecretsManager{values: map[string]string{"s": "one"}}
	now := t0
	src := NewSecretSource(fake, "s")
	src.now = func() time.Time { return now }
	ctx := context.Background()

	get := func() string {
		t.Helper()
		v, err := src.Secret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v.Reveal()
	}
	if get() != "one" || get() != "one" || fake.calls.Load() != 1 {
		t.Fatalf("want one fetch, got %d", fake.calls.Load())
	}
	fake.set("s", "two")
	now = now.Add(DefaultSecretTTL - time.Second)
	if get() != "one" {
		t.Error("refetched before the TTL")
	}
	now = now.Add(2 * time.Second)
	if get() != "two" || fake.calls.Load() != 2 {
		t.Errorf("no refetch after the TTL (calls %d)", fake.calls.Load())
	}
	fake.set("s", "three")
	src.Invalidate()
	if get() != "three" {
		t.Error("Invalidate did not force a fetch")
	}
}

func TestSecretSourceConcurrent(t *testing.T) {
	fake := &fakeSecretsManager{values: map[string]string{"s": "v"}}
	src := NewSecretSource(fake, "s")
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := src.Secret(context.Background()); err != nil || v.Reveal() != "v" {
				t.Errorf("Secret() = %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := fake.calls.Load(); n != 1 {
		t.Errorf("%d fetches for 32 concurrent callers, want 1", n)
	}
}

func TestSecretSourceError(t *testing.T) {
	fake := &fakeSecretsManager{values: map[string]string{}, err: errors.New("AccessDeniedException")}
	src := NewSecretSource(fake, "arn:s")
	if _, err := src.Secret(context.Background()); err == nil {
		t.Fatal("want an error")
	}
	// A delivery with an unavailable secret is retryable, not permanent.
	w, err := NewWebhook(Webhook{Format: FormatGeneric, URL: "https://example.com", Secret: src})
	if err != nil {
		t.Fatal(err)
	}
	var retry *RetryableError
	if err := w.Deliver(context.Background(), testFinding()); !errors.As(err, &retry) {
		t.Errorf("Deliver = %v, want *RetryableError", err)
	}
}
