//go:build unix

package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RIEVersion is the aws-lambda-runtime-interface-emulator version RIE installs.
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

const riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

var (
	rieOnce sync.Once
	riePath string
	rieErr  error

	rieLogs sync.Map // invoke URL -> *lineLog
)

// RIEBinary returns the path of aws-lambda-rie: from PATH, from
// $(go env GOPATH)/bin, or installed there with go install at RIEVersion.
// It skips the test if the emulator cannot be installed.
func RIEBinary(t testing.TB) string {
	t.Helper()
	rieOnce.Do(func() { riePath, rieErr = installRIE() })
	if rieErr != nil {
		t.Skipf("aws-lambda-rie unavailable (go install %s@%s failed): %v", riePackage, RIEVersion, rieErr)
	}
	return riePath
}

func installRIE() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	gopath := strings.TrimSpace(strings.Split(strings.TrimSpace(string(out)), string(os.PathListSeparator))[0])
	bin := filepath.Join(gopath, "bin")
	p := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	cmd := exec.Command("go", "install", riePackage+"@"+RIEVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Dir = os.TempDir() // outside the module, so its go.mod is untouched
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
	}
	return p, nil
}

// RIE runs bootstrap under the Lambda Runtime Interface Emulator on a free
// loopback port and returns the invoke URL
// (http://127.0.0.1:PORT/2015-03-31/functions/function/invocations). The
// function sees only env plus a minimal environment: PATH, HOME, fake AWS
// credentials and AWS_REGION us-east-1 (env overrides them). The emulator's
// output (including the function's logs and the "Init Duration" of the cold
// start) goes to the test log and to RIELogs. The emulator and the function
// are killed when the test ends.
func RIE(t testing.TB, bootstrap string, env map[string]string) string {
	t.Helper()
	bin := RIEBinary(t)
	addr, apiAddr := freeAddr(t), freeAddr(t)

	vars := map[string]string{
		"PATH":                      os.Getenv("PATH"),
		"HOME":                      os.Getenv("HOME"),
		"AWS_ACCESS_KEY_ID":         "AKIDTESTTESTTEST",
		"AWS_SECRET_ACCESS_KEY":     "test-secret-key",
		"AWS_SESSION_TOKEN":         "test-session-token",
		"AWS_REGION":                "us-east-1",
		"AWS_DEFAULT_REGION":        "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	envList := make([]string, 0, len(vars))
	for k, v := range vars {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)

	logs := &lineLog{t: t, prefix: "rie: "}
	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = envList
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	rieLogs.Store(url, logs)
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the function
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("aws-lambda-rie did not exit")
		}
		logs.close()
		rieLogs.Delete(url)
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return url
		}
		select {
		case err := <-exited:
			t.Fatalf("aws-lambda-rie exited before listening on %s: %v\n%s", addr, err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie not listening on %s after 15s\n%s", addr, logs.String())
		}
	}
}

// RIELogs returns the output captured so far from the emulator serving url.
func RIELogs(url string) string {
	if l, ok := rieLogs.Load(url); ok {
		return l.(*lineLog).String()
	}
	return ""
}

// WaitRIELogs returns the emulator's output once it holds every one of
// needles, or after timeout: a function's log lines reach the emulator a
// moment after its response, so a test that checks them right after an
// invocation must wait for them.
func WaitRIELogs(url string, timeout time.Duration, needles ...string) string {
	deadline := time.Now().Add(timeout)
	for {
		logs := RIELogs(url)
		all := true
		for _, n := range needles {
			all = all && strings.Contains(logs, n)
		}
		if all || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Invoke posts payload (JSON-encoded unless it is []byte, string or
// json.RawMessage) to an emulator invoke URL and returns the response body.
// A function error comes back as the JSON error document with a nil error;
// err is for transport failures and non-200 responses.
func Invoke(t testing.TB, url string, payload any) ([]byte, error) {
	t.Helper()
	var body []byte
	switch p := payload.(type) {
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	case string:
		body = []byte(p)
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		body = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// lineLog writes complete lines to the test log and keeps a copy.
type lineLog struct {
	t      testing.TB
	prefix string

	mu     sync.Mutex
	buf    bytes.Buffer // everything
	part   []byte       // incomplete last line
	closed bool
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		if !l.closed {
			l.t.Log(l.prefix + string(l.part[:i]))
		}
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.part) > 0 && !l.closed {
		l.t.Log(l.prefix + string(l.part))
	}
	l.closed = true
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
