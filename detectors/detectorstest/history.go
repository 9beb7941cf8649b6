package detectorstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// Profiles name behaviours a history can follow.
const (
	// Human works Monday to Friday from StartHour (UTC) for eight hours,
	// from the office (home on Fridays), with aws-cli 2.22 and the console,
	// one long-term access key, a handful of reads and some writes.
	Human = "human"
	// CI is a deploy role: on weekdays two or three Terraform runs, each a
	// burst of mutating calls within ten minutes, from the CI runners.
	CI = "ci"
	// Lambda is a function's role: calls around the clock from AWS
	// addresses in us-east-1 with the Go SDK, session keys rotating every
	// six hours.
	Lambda = "lambda"
)

// History describes a principal's past.
type History struct {
	Profile   string
	Principal string
	// End is when the history stops (exclusive); it covers the Days
	// before it.
	End    time.Time
	Days   int
	PerDay int
	// StartHour is a person's first working hour, UTC (default 9).
	StartHour int
	// DeniedPerWindow adds, in one 10-minute window of every active
	// hour, that many AccessDenied calls.
	DeniedPerWindow int
	// Daily are calls made once a day at 11:00 on the last DailyDays
	// days (every day if zero), whatever the profile.
	Daily     []func(t time.Time) events.Event
	DailyDays int
	// ChurnPerDay adds, on every active day, that many calls to APIs the
	// principal never called before (a principal that keeps meeting new
	// values: Terraform across many services, a platform team's role).
	ChurnPerDay int
	// Provider, when set, names the network the CI runners' egress
	// (IPCI) belongs to, as a configured named network would.
	Provider string
	Seed     uint64
}

var (
	humanReads = []string{
		"ec2:DescribeInstances", "s3:ListBuckets", "iam:ListUsers", "cloudwatch:GetMetricData",
		"logs:FilterLogEvents", "sts:GetCallerIdentity", "lambda:ListFunctions20150331",
		"dynamodb:DescribeTable", "ecs:DescribeServices", "iam:GetRole",
	}
	humanWrites = []string{
		"ec2:StartInstances", "ec2:StopInstances", "ssm:PutParameter",
		"lambda:UpdateFunctionCode20150331v2", "ecs:UpdateService",
	}
	ciWrites = []string{
		"ecs:RegisterTaskDefinition", "ecs:UpdateService", "ec2:CreateTags", "ec2:DeleteTags",
		"ssm:PutParameter", "lambda:UpdateFunctionCode20150331v2", "lambda:UpdateFunctionConfiguration20150331v2",
		"elasticloadbalancing:ModifyTargetGroup", "logs:PutRetentionPolicy", "cloudformation:UpdateStack",
	}
	ciReads = []string{
		"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "iam:GetRole", "ecs:DescribeServices",
		"sts:GetCallerIdentity",
	}
	lambdaCalls = []string{
		"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:SendMessage", "kms:Decrypt",
		"secretsmanager:GetSecretValue", "sns:Publish",
	}
)

// Events generates the history, in time order.
func (h History) Events() []events.Event {
	if h.PerDay <= 0 {
		h.PerDay = 40
	}
	if h.StartHour == 0 && h.Profile == Human {
		h.StartHour = 9
	}
	rng := rand.New(rand.NewPCG(h.Seed, 0x7261696c))
	end := h.End.UTC().Truncate(24 * time.Hour)
	var out []events.Event
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	for d := h.Days; d >= 1; d-- {
		day := end.Add(-time.Duration(d) * 24 * time.Hour)
		wd := day.Weekday()
		weekday := wd != time.Saturday && wd != time.Sunday
		var evs []events.Event
		switch h.Profile {
		case Human:
			if !weekday {
				break
			}
			ip := IPOffice
			if wd == time.Friday {
				ip = IPHome
			}
			for i := 0; i < h.PerDay; i++ {
				t := day.Add(time.Duration(h.StartHour)*time.Hour + time.Duration(rng.Int64N(int64(8*time.Hour))))
				api := pick(humanReads)
				if rng.IntN(5) == 0 {
					api = pick(humanWrites)
				}
				ua := UACLI222
				if rng.IntN(4) == 0 {
					ua = UAConsole
				}
				src := ip
				if ip == IPOffice && rng.IntN(3) == 0 {
					src = IPOffice2
				}
				evs = append(evs, Event(h.Principal, api, t, From(src), UA(ua)))
			}
		case CI:
			if !weekday {
				break
			}
			runs := 2 + rng.IntN(2)
			for r := 0; r < runs; r++ {
				start := day.Add(10*time.Hour + time.Duration(rng.Int64N(int64(8*time.Hour))))
				// Runs vary around PerDay/2 mutating calls.
				n := h.PerDay/4 + rng.IntN(h.PerDay/2+1)
				for i := 0; i < n; i++ {
					t := start.Add(time.Duration(rng.Int64N(int64(8 * time.Minute))))
					evs = append(evs, Event(h.Principal, pick(ciWrites), t, From(IPCI), UA(UATerraform)))
				}
				for i := 0; i < 5; i++ {
					t := start.Add(time.Duration(rng.Int64N(int64(time.Minute))))
					evs = append(evs, Event(h.Principal, pick(ciReads), t, From(IPCI), UA(UATerraform)))
				}
			}
		case Lambda:
			for i := 0; i < h.PerDay; i++ {
				t := day.Add(time.Duration(i) * 24 * time.Hour / time.Duration(h.PerDay)).Add(time.Duration(rng.Int64N(int64(time.Minute))))
				ip := fmt.Sprintf("3.80.%d.%d", rng.IntN(256), 1+rng.IntN(254))
				key := "ASIA" + keySuffix(h.Principal+t.Format("20060102")+fmt.Sprint(t.Hour()/6))
				evs = append(evs, Event(h.Principal, pick(lambdaCalls), t, FromAWS("us-east-1", ip), UA(UAGoSDK), Key(key)))
			}
		default:
			panic("detectorstest: unknown profile " + h.Profile)
		}
		if h.DeniedPerWindow > 0 {
			hours := map[int64]time.Time{}
			for _, ev := range evs {
				hours[ev.Time.Unix()/3600] = ev.Time.Truncate(time.Hour)
			}
			for _, hr := range hours {
				base := evs[0]
				for i := 0; i < h.DeniedPerWindow; i++ {
					t := hr.Add(20*time.Minute + time.Duration(i)*30*time.Second)
					evs = append(evs, Event(h.Principal, "iam:ListRoles", t, func(ev *events.Event) {
						ev.Network, ev.Record.SourceIPAddress = base.Network, base.Record.SourceIPAddress
						UA(base.Record.UserAgent)(ev)
						ev.AccessKeyID = base.AccessKeyID
					}, Err("AccessDenied")))
				}
			}
		}
		if h.ChurnPerDay > 0 && len(evs) > 0 {
			like := evs[len(evs)/2]
			for i := 0; i < h.ChurnPerDay; i++ {
				api := fmt.Sprintf("churn%d:Update%d", d, i)
				evs = append(evs, Event(h.Principal, api, like.Time.Add(time.Duration(i+1)*time.Second), func(ev *events.Event) {
					ev.Network, ev.Record.SourceIPAddress = like.Network, like.Record.SourceIPAddress
					UA(like.Record.UserAgent)(ev)
					ev.AccessKeyID = like.AccessKeyID
				}))
			}
		}
		if len(h.Daily) > 0 && (h.DailyDays == 0 || d <= h.DailyDays) {
			for _, f := range h.Daily {
				evs = append(evs, f(day.Add(11*time.Hour)))
			}
		}
		out = append(out, evs...)
	}
	if h.Provider != "" {
		for i := range out {
			if out[i].Record.SourceIPAddress == IPCI {
				FromProvider(h.Provider, IPCI)(&out[i])
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Forget is the default forgetting period.
const Forget = 90 * 24 * time.Hour

// Train folds events into b, in the order given, as the engine does with
// the default config (detectors.Learn: the events and the risks they took).
func Train(b *detectors.Baseline, evs []events.Event) *detectors.Baseline {
	cfg := detectors.DefaultConfig()
	for i := range evs {
		detectors.Learn(cfg, b, &evs[i])
	}
	return b
}

// Baseline returns a baseline trained on the history.
func (h History) Baseline() *detectors.Baseline {
	return Train(detectors.NewBaseline(h.Principal), h.Events())
}

// Saver is the part of a store Seed uses.
type Saver interface {
	Save(ctx context.Context, st *detectors.State) error
}

// Seed stores trained baselines as new principal states.
func Seed(s Saver, bs ...*detectors.Baseline) error {
	for _, b := range bs {
		if err := s.Save(context.Background(), &detectors.State{Baseline: b}); err != nil {
			return err
		}
	}
	return nil
}
