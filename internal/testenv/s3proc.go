package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// S3Proc is an S3 API server (gofakes3 over an in-memory backend, the
// fakes3 command) running in a process of its own on a loopback port: a
// benchmark of an S3 client then measures the client alone, and can ask
// what the server cost (CPU).
type S3Proc struct {
	// URL is the endpoint ("http://127.0.0.1:PORT"); clients must use
	// path-style addressing.
	URL string
	cmd *exec.Cmd
}

// S3Process builds and starts the fakes3 server with bucket holding the
// files below dir (keys are their slash-separated paths relative to dir),
// limited to procs threads of Go code (GOMAXPROCS; 0 leaves the default),
// waits until it serves, and stops it when t ends.
func S3Process(t testing.TB, bucket, dir string, procs int) *S3Proc {
	t.Helper()
	bin := buildCached(t, "./internal/testenv/fakes3")
	cmd := exec.Command(bin, "-bucket", bucket, "-load", dir)
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("fakes3: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("fakes3: %v", err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("fakes3: %v", err)
	}
	p := &S3Proc{cmd: cmd}
	t.Cleanup(func() {
		// Closing its standard input stops it; a kill if it does not.
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p.URL = <-line:
	case <-time.After(2 * time.Minute):
	}
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Fatalf("fakes3 did not start: %s", stderr.String())
	}
	return p
}

// CPU returns the CPU time (user and system) the server process has used
// so far. It reads /proc, so it works on Linux only.
func (p *S3Proc) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	// Fields after the command name (which may hold spaces), from field 3:
	// utime and stime are fields 14 and 15, in clock ticks.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("server cpu: short /proc stat line")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server cpu: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100
