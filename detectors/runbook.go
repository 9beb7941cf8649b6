package detectors

import (
	"net/url"
	"strings"
)

// Runbooks: every finding carries what on-call should check first, for its
// lead detector and, for high-risk actions, its category, in two or three
// sentences (Finding.NextSteps), and a link to its first CloudTrail event in
// the console (Finding.ConsoleURL). They are derived from the lead signal
// like the title, and rebuilt on load.

// categoryRunbooks are the high-risk categories' next steps.
var categoryRunbooks = map[string][]string{
	"logging and detection tampering": {
		"Restore what was turned off first (restart the trail, re-enable the detector, recorder or log): an attacker blinds detection before acting.",
		"Then find out from {name}'s owner why it was changed, and review everything {name} did since.",
	},
	"IAM persistence and privilege escalation": {
		"List the users, access keys, roles and policies this finding created, attached or changed, and disable any that no one can account for.",
		"Check what the new credentials have done since, and whether {name}'s own credentials are still in the right hands.",
	},
	"public or cross-account exposure": {
		"Check the resource's policy, ACL or sharing now and revert it if it is not intended.",
		"Then look for access from outside (S3 server access logs, CloudTrail data events, the outside account) in the time it was open.",
	},
	"destruction": {
		"Stop further deletion first (revoke {name}'s sessions, or an SCP), and check that backups, versions or snapshots survive.",
		"Confirm with the resource's owner whether the deletion was planned.",
	},
	"code execution and lateral movement": {
		"Compare the function code, configuration, command or key with the last known good one, and roll it back if it is not yours.",
		"Check what it ran and which roles it could use from there.",
	},
	"root account use": {
		"Root use should be rare and announced: confirm it with the account's owner.",
		"If it was not expected, change the root password, check its MFA device, and review root's other calls.",
	},
	"console sign-in without MFA": {
		"Confirm the sign-in with the person, from the source network shown.",
		"Require MFA for them (an IAM policy denying everything without aws:MultiFactorAuthPresent).",
	},
	"leaving the organization": {
		"An account that leaves the organization escapes its SCPs and central logging: confirm with the organization's owners at once.",
		"If it was not planned, revoke {name}'s sessions and keys.",
	},
	"resource hijacking": {
		"Find out whether anyone asked for this access or capacity: LLM-jacking and mining run up bills within hours on stolen credentials.",
		"If not, remove the access (model access, agreements, instances) and revoke the credentials {name} used.",
	},
	"Trailwatch self-protection": {
		"Someone changed Trailwatch itself: check that detection still runs (the functions, rules, queues and topics named in the events) and revert the change.",
		"Treat {name} as suspect until the change is explained, and review its other calls.",
	},
}

// detectorRunbooks are the other detectors' next steps.
var detectorRunbooks = map[string][]string{
	IDFirstSeen: {
		"Ask {name}'s owner whether the new network, tool, region or API is theirs (a new laptop, a new job, travel).",
		"If not, review what the same session did in CloudTrail and revoke it.",
	},
	IDRate: {
		"Check whether a deployment, migration or batch job explains the burst.",
		"If not, look for what was created, changed or deleted in the window.",
	},
	IDErrorBurst: {
		"A burst of denied calls is how stolen credentials map their permissions: check which APIs were denied and from which network and tool.",
		"If the caller is not {name}'s usual tool, disable the credentials.",
	},
	IDUnusualHour: {
		"Check whether {name} was on call, travelling or running a scheduled job at that hour.",
		"If not, treat the session as suspect and review its calls.",
	},
	IDCredentialPinning: {
		"One session credential used from two unrelated networks was copied: revoke the role's active sessions (IAM, \"Revoke active sessions\").",
		"Then find where it leaked (instance metadata, CI logs, a developer's machine).",
	},
}

var defaultRunbook = []string{
	"Confirm with {name}'s owner that these calls were intended.",
	"If not, revert what they changed and revoke the session.",
}

// runbook returns the next steps for a case led by top.
func runbook(top CaseSignal, name string) []string {
	steps := detectorRunbooks[top.Detector]
	if top.Detector == IDHighRiskAction {
		steps = defaultRunbook
		if c, ok := top.Evidence["category"].(string); ok {
			if s, ok := categoryRunbooks[c]; ok {
				steps = s
			}
		}
	}
	if steps == nil {
		steps = defaultRunbook
	}
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = strings.ReplaceAll(s, "{name}", name)
	}
	return out
}

// ConsoleURL links to one CloudTrail event in the console's event history
// of its region (management events of the last 90 days).
func ConsoleURL(region, eventID string) string {
	if region == "" || eventID == "" {
		return ""
	}
	r := url.QueryEscape(region)
	return "https://" + r + ".console.aws.amazon.com/cloudtrailv2/home?region=" + r + "#/events/" + url.PathEscape(eventID)
}

// RunbookFor returns the next steps for a detector and (high-risk) category,
// naming the principal as name: what Finding.NextSteps holds.
func RunbookFor(detector, category, name string) []string {
	sig := CaseSignal{Detector: detector}
	if category != "" {
		sig.Evidence = map[string]any{"category": category}
	}
	return runbook(sig, name)
}
