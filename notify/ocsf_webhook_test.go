package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// TestDeliverOCSFSigned: the ocsf format posts an OCSF Detection Finding,
// signed like the generic format (the receiver rejects a bad signature),
// and an escalation keeps finding_info.uid with a new Idempotency-Key.
func TestDeliverOCSFSigned(t *testing.T) {
	rv := &receiver{t: t, secret: []byte(testSigningSecret)}
	srv := serve(t, rv)
	w := newTestWebhook(t, Webhook{Format: FormatOCSF, URL: srv.URL, AllowHTTP: true,
		Secret: StaticSecret(NewSecret(`{"signing_secret":"` + testSigningSecret + `"}`))}, nil)
	f := testFinding()
	esc := f
	esc.Severity = detectors.SeverityCritical
	for _, g := range []detectors.Finding{f, esc} {
		if _, err := w.DeliverResult(context.Background(), g); err != nil {
			t.Fatalf("Deliver %s: %v", g.Severity, err)
		}
	}
	bodies, headers := rv.accepted()
	if len(bodies) != 2 {
		t.Fatalf("accepted %d deliveries, want 2", len(bodies))
	}
	wantSev := []int{4, 5}
	for i, body := range bodies {
		var o render.OCSFFinding
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		if o.ClassUID != render.OCSFClassUID || o.FindingInfo.UID != f.ID || o.SeverityID != wantSev[i] {
			t.Errorf("delivery %d: class %d uid %q severity_id %d", i, o.ClassUID, o.FindingInfo.UID, o.SeverityID)
		}
	}
	if headers[0].Get(HeaderIdempotencyKey) == headers[1].Get(HeaderIdempotencyKey) {
		t.Error("the escalation reused the first delivery's Idempotency-Key")
	}
	if _, err := ParseFormat("OCSF"); err != nil {
		t.Errorf("ParseFormat(OCSF): %v", err)
	}
	if _, err := ParseCredentials(FormatOCSF, NewSecret(`{"email":"a@b"}`)); err == nil {
		t.Error("ocsf accepted a secret without a signing secret")
	}
}
