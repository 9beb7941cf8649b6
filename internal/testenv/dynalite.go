package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dynalite starts a dynalite server (a DynamoDB API implementation, from
// the repository's node_modules) on a free loopback port, waits until it
// answers, and returns its endpoint URL. The server is stopped when the
// test ends. Each call starts a fresh, empty server (it takes well under a
// second).
//
// When node_modules is missing the test is skipped, or fails when the
// environment variable TRAILWATCH_REQUIRE_SERVERS is 1 (as `make test`
// sets it), so that a full run never silently skips.
func Dynalite(t testing.TB) (endpoint string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("dynalite: %v", err)
	}
	node, err := NodeBinary(root)
	if err != nil {
		if os.Getenv("TRAILWATCH_REQUIRE_SERVERS") == "1" {
			t.Fatalf("dynalite: %v", err)
		}
		t.Skipf("dynalite: %v", err)
	}
	cli := filepath.Join(root, "node_modules", "dynalite", "cli.js")
	for _, p := range []string{node, cli} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("TRAILWATCH_REQUIRE_SERVERS") == "1" {
				t.Fatalf("dynalite not installed (%s missing): run `npm ci` in %s", p, root)
			}
			t.Skip("dynalite not installed: run `npm ci` or `make test`")
		}
	}

	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		port, err := freePort()
		if err != nil {
			t.Fatalf("dynalite: %v", err)
		}
		ep, err := startDynalite(t, node, cli, port)
		if err == nil {
			return ep
		}
		lastErr = err
	}
	t.Fatalf("dynalite: %v", lastErr)
	return ""
}

func startDynalite(t testing.TB, node, cli string, port int) (string, error) {
	cmd := exec.Command(node, cli,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", node, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	ep := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("exited (%v): %s", err, strings.TrimSpace(out.String()))
		default:
		}
		if answers(ep) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("no answer on %s after 15s: %s", ep, strings.TrimSpace(out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return ep, nil
}

// answers reports whether a DynamoDB API answers on ep: dynalite replies
// to any POST, here with a 400 for a missing target.
func answers(ep string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, strings.NewReader("{}"))
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot returns the directory holding go.mod, walking up from the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
