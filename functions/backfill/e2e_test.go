//go:build unix

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// TestBootstrapUnderEmulator runs the built bootstrap under the Lambda
// Runtime Interface Emulator against dynalite and an S3 API server, as the
// state machine invokes it: the accounts of the archive, then account A's
// backfill, which answers done with every event of A's principals in the
// range applied (counted independently by reading the archive files), and
// only A's principals in the table; an input error comes back as the
// error type InputError.
func TestBootstrapUnderEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function and runs it under the emulator")
	}
	ctx := context.Background()
	s3srv, files := archive(t)
	ep := testenv.Dynalite(t)
	const table = "tw-rie"
	if err := baselines.CreateTable(ctx, ddbClient(ep), table); err != nil {
		t.Fatal(err)
	}
	url := testenv.RIE(t, testenv.BuildFunction(t, "./functions/backfill"), map[string]string{
		"TABLE_NAME":                table,
		"ARCHIVE_BUCKET":            bucket,
		"AWS_ENDPOINT_URL_S3":       s3srv.URL,
		"AWS_ENDPOINT_URL_DYNAMODB": ep,
		"LOG_LEVEL":                 "INFO",
	})

	b, err := testenv.Invoke(t, url, Input{ListAccounts: true, Bucket: bucket, Prefix: "AWSLogs/"})
	if err != nil {
		t.Fatal(err)
	}
	var list Accounts
	if err := json.Unmarshal(b, &list); err != nil || len(list.Accounts) != 2 || list.Accounts[0].ID != acctA || list.Accounts[1].ID != acctB {
		t.Fatalf("list_accounts: %s (%v)", b, err)
	}

	// The oracle: account A's selected events of its own principals in
	// the range, read from a local copy of the same files.
	dir := t.TempDir()
	if err := archivetest.WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	want := countEvents(t, dir+"/"+list.Accounts[0].Prefix, acctA)

	began := time.Now()
	b, err = testenv.Invoke(t, url, map[string]string{"bucket": bucket, "prefix": list.Accounts[0].Prefix, "account": acctA, "since": rangeSince, "until": rangeUntil})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	if err := json.Unmarshal(b, &out); err != nil || !out.Done || out.Applied != want || out.Files == 0 {
		t.Fatalf("backfill: %s (%v), want done with %d events", b, err, want)
	}
	t.Logf("under the emulator: %d events, %d files in %v (handler %.2fs)", out.Applied, out.Files, time.Since(began).Round(time.Millisecond), out.Seconds)
	principals := 0
	for k := range items(t, ep, table, false) {
		if strings.HasPrefix(k, "P#") {
			principals++
			if !strings.HasPrefix(k, "P#"+acctA+":") {
				t.Errorf("item %s of another account", k)
			}
		}
	}
	if principals != out.Principals {
		t.Errorf("%d principals in the table, the function wrote %d", principals, out.Principals)
	}
	if logs := testenv.WaitRIELogs(url, 5*time.Second, `"message":"backfill invocation"`); !strings.Contains(logs, `"message":"backfill invocation"`) {
		t.Errorf("no JSON log of the invocation:\n%s", logs)
	}

	b, err = testenv.Invoke(t, url, Input{Bucket: "another-bucket", Prefix: "AWSLogs/", Account: acctA, Since: rangeSince, Until: rangeUntil})
	if err != nil || !strings.Contains(string(b), `"errorType":"InputError"`) {
		t.Errorf("another bucket: %s, %v; want errorType InputError", b, err)
	}
}
