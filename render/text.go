package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// Text writes findings as the readable report, one block per finding
// (FindingText) separated by a blank line, or "No findings." when there
// are none.
func Text(w io.Writer, fs []detectors.Finding) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	var b strings.Builder
	for i, f := range fs {
		b.WriteString(FindingText(f))
		if i < len(fs)-1 {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FindingText renders one finding as readable text: a head line (time,
// severity, detector, score, title), the principal, account, region and
// events, the reasons, the calls, the CloudTrail event IDs and the
// finding ID. It ends in a newline.
func FindingText(f detectors.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s %-18s score %.2f  %s\n", f.FirstEventTime.Format("2006-01-02 15:04:05Z"), f.Severity, f.Detector, f.Score, f.Title)
	fmt.Fprintf(&b, "    principal: %s", f.Principal)
	if f.PrincipalARN != "" {
		fmt.Fprintf(&b, " (%s)", f.PrincipalARN)
	}
	fmt.Fprintf(&b, "\n    account %s, region %s, %d event(s) %s .. %s", f.AccountID, f.Region, f.Count,
		f.FirstEventTime.Format(time.RFC3339), f.LastEventTime.Format(time.RFC3339))
	if f.Mode == detectors.ModeShadow {
		b.WriteString(", SHADOW")
	}
	b.WriteString("\n    why:\n")
	for _, r := range f.Reasons {
		fmt.Fprintf(&b, "      - %s\n", r)
	}
	if steps := NextSteps(f); len(steps) > 0 {
		b.WriteString("    next steps:\n")
		for _, s := range steps {
			fmt.Fprintf(&b, "      - %s\n", s)
		}
	}
	fmt.Fprintf(&b, "    calls: %s\n", strings.Join(f.EventNames, ", "))
	fmt.Fprintf(&b, "    event ids: %s\n", strings.Join(f.EventIDs, ", "))
	if f.ConsoleURL != "" {
		fmt.Fprintf(&b, "    in the console: %s\n", f.ConsoleURL)
	}
	fmt.Fprintf(&b, "    id: %s\n", f.ID)
	return b.String()
}
