package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/testenv"
)

func TestReplayDynamoDBStore(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the sample")
	}
	ep := testenv.Dynalite(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")

	var memOut, memErr bytes.Buffer
	if err := run([]string{"replay", "--store", "memory", samplePath}, nil, &memOut, &memErr); err != nil {
		t.Fatalf("memory replay: %v\n%s", err, memErr.String())
	}
	var out, errOut bytes.Buffer
	err := run([]string{"replay", "--store", "dynamodb", "--endpoint", ep, "--table", "tw-test", "--create-table", "--batch-size", "100", samplePath}, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("dynamodb replay: %v\n%s", err, errOut.String())
	}
	if out.String() != memOut.String() {
		t.Errorf("findings differ from the memory store's:\n dynamodb:\n%s\n memory:\n%s", out.String(), memOut.String())
	}
	if n := strings.Count(out.String(), "\n"); n == 0 {
		t.Error("no findings printed")
	}
	capLine := regexp.MustCompile(`dynamodb capacity: ([0-9.]+) RCU, ([0-9.]+) WCU in total; ([0-9.]+) RCU and ([0-9.]+) WCU per selected event`)
	m := capLine.FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no capacity line in the summary:\n%s", errOut.String())
	}
	t.Logf("%s", m[0])

	// Without --create-table a missing table is a one-line error.
	err = run([]string{"replay", "--store", "dynamodb", "--endpoint", ep, "--table", "tw-missing", "--quiet", samplePath}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--create-table") {
		t.Errorf("missing table: %v", err)
	}
}
