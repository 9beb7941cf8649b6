package notify_test

import (
	"fmt"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/notify"
)

func ExampleSubject() {
	f := detectors.Finding{
		Severity: detectors.SeverityHigh,
		Detector: "first-seen",
		Title:    "alice@example.com called iam:CreateAccessKey\n(from a new network)",
	}
	fmt.Println(notify.Subject(f))
	// Output:
	// [HIGH] first-seen: alice@example.com called iam:CreateAccessKey (from a new network)
}

func ExampleNewWebhook() {
	_, err := notify.NewWebhook(notify.Webhook{
		Format: notify.FormatGeneric,
		URL:    "http://tickets.example.com/hook",
		Secret: notify.StaticSecret(notify.NewSecret("s")),
	})
	fmt.Println(err)
	// Output:
	// webhook: URL http://tickets.example.com uses http; https is required (allow http only for local tests)
}
