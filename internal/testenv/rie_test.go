//go:build unix

package testenv

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

const echoPkg = "./internal/testenv/testdata/echo"

func TestBuildFunctionCached(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function; skipped with -short")
	}
	a := BuildFunction(t, echoPkg)
	b := BuildFunction(t, echoPkg)
	if a == b {
		t.Fatalf("both calls returned %s; want a copy per call", a)
	}
	ba, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("second call did not reuse the first build")
	}
	if fi, _ := os.Stat(a); fi.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable", a)
	}
	if builds[echoPkg] == nil || builds[echoPkg].path == "" {
		t.Error("build not cached")
	}
}

func TestRIEInvoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a function under the emulator; skipped with -short")
	}
	url := RIE(t, BuildFunction(t, echoPkg), map[string]string{"GREETING": "hello"})
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/2015-03-31/functions/function/invocations") {
		t.Fatalf("invoke URL %q", url)
	}
	for i := range 2 {
		out, err := Invoke(t, url, map[string]any{"n": i})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Echo     map[string]int `json:"echo"`
			Greeting string         `json:"greeting"`
			Region   string         `json:"region"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got.Echo["n"] != i || got.Greeting != "hello" || got.Region != "us-east-1" {
			t.Errorf("invoke %d = %s", i, out)
		}
	}
	if logs := RIELogs(url); !strings.Contains(logs, "Init Duration") {
		t.Errorf("emulator output lacks Init Duration:\n%s", logs)
	}
}
