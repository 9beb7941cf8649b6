package infra

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

func TestCdkNagAwsSolutionsClean(t *testing.T) {
	for _, stack := range []awscdk.Stack{fixture.stacks.Central.Stack, fixture.stacks.Forwarder.Stack} {
		ann := assertions.Annotations_FromStack(stack)
		nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, m := range *ann.FindError(jsii.String("*"), nag) {
			t.Errorf("%s: unsuppressed cdk-nag error at %s: %v", *stack.StackName(), *m.Id, m.Entry.Data)
		}
		for _, m := range *ann.FindWarning(jsii.String("*"), nag) {
			t.Errorf("%s: unsuppressed cdk-nag warning at %s: %v", *stack.StackName(), *m.Id, m.Entry.Data)
		}
		// Nor any other synthesis error.
		for _, m := range *ann.FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			t.Errorf("%s: error at %s: %v", *stack.StackName(), *m.Id, m.Entry.Data)
		}
	}
}

// suppression is one cdk-nag suppression recorded in a template.
type suppression struct {
	stack, resource, id, reason string
}

func suppressions(t *testing.T) []suppression {
	t.Helper()
	var out []suppression
	collect := func(stack, where string, meta interface{}) {
		for _, r := range asList(asMap(asMap(meta)["cdk_nag"])["rules_to_suppress"]) {
			m := r.(map[string]interface{})
			reason, _ := m["reason"].(string)
			id, _ := m["id"].(string)
			out = append(out, suppression{stack, where, id, reason})
		}
	}
	for stack, tpl := range templates() {
		collect(stack, "(stack)", tpl["Metadata"])
		for id, r := range resources(tpl, "") {
			collect(stack, id, r["Metadata"])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return fmt.Sprint(out[i]) < fmt.Sprint(out[j])
	})
	return out
}

func TestEverySuppressionHasAReason(t *testing.T) {
	sups := suppressions(t)
	if len(sups) == 0 {
		t.Fatal("found no suppression metadata; the walk is broken")
	}
	for _, s := range sups {
		if len(strings.TrimSpace(s.reason)) < secure.MinReasonLength {
			t.Errorf("%s/%s: suppression %s has no specific reason: %q", s.stack, s.resource, s.id, s.reason)
		}
		t.Logf("%s/%s: %s — %s", s.stack, s.resource, s.id, s.reason)
	}
	// Only these rules are suppressed anywhere; a new one needs review here.
	allowed := map[string]bool{"AwsSolutions-SQS3": true, "AwsSolutions-SMG4": true, "AwsSolutions-S1": true}
	for _, s := range sups {
		if !allowed[s.id] {
			t.Errorf("%s/%s: unreviewed suppression %s", s.stack, s.resource, s.id)
		}
	}
}

func TestShortSuppressionReasonIsRefused(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Suppress accepted a reason shorter than MinReasonLength")
		}
	}()
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false)})
	stack := awscdk.NewStack(app, jsii.String("S"), nil)
	secure.Suppress(stack, false, secure.Rule{ID: "AwsSolutions-SQS3", Reason: "fine"})
}
