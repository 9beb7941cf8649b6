package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
)

// patternRules returns the EventBridge rules that match events (not the
// scheduled ones).
func patternRules(tpl map[string]interface{}) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, r := range resources(tpl, "AWS::Events::Rule") {
		_, scheduled := props(r)["ScheduleExpression"]
		alarms := fmtList(asMap(props(r)["EventPattern"])["source"]) == "aws.cloudwatch" // forwarder DLQ alarms
		if !scheduled && !alarms {
			out[id] = r
		}
	}
	return out
}

// ipRangesIDs finds the concern's resources in the central template.
func ipRangesIDs(t *testing.T) (bucket, key, refresher, detect string) {
	t.Helper()
	tpl := fixture.centralTpl
	buckets := resources(tpl, "AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets, want 1 (the AWS ip-ranges copy)", len(buckets))
	}
	for id, b := range buckets {
		bucket = id
		enc := asList(asMap(props(b)["BucketEncryption"])["ServerSideEncryptionConfiguration"])
		if len(enc) == 1 {
			key = ref(asMap(asMap(enc[0])["ServerSideEncryptionByDefault"])["KMSMasterKeyID"])
		}
	}
	for id, f := range resources(tpl, "AWS::Lambda::Function") {
		vars := asMap(asMap(props(f)["Environment"])["Variables"])
		switch {
		case vars["TABLE_NAME"] != nil:
			detect = id
		case vars["IP_RANGES_BUCKET"] != nil:
			refresher = id
		}
	}
	if key == "" || refresher == "" || detect == "" {
		t.Fatalf("bucket %q key %q refresher %q detect %q", bucket, key, refresher, detect)
	}
	return bucket, key, refresher, detect
}

// TestDetectFindsTheRanges: the detect function is told where the bundled
// file is (beside its bootstrap) and where the bucket copy is.
func TestDetectFindsTheRanges(t *testing.T) {
	bucket, _, refresher, detect := ipRangesIDs(t)
	for _, fn := range []string{detect, refresher} {
		vars := asMap(asMap(props(resources(fixture.centralTpl, "AWS::Lambda::Function")[fn])["Environment"])["Variables"])
		if ref(vars["IP_RANGES_BUCKET"]) != bucket || vars["IP_RANGES_KEY"] != ipranges.ObjectKey {
			t.Errorf("%s: IP_RANGES_BUCKET %v IP_RANGES_KEY %v, want the bucket %s and %s", fn, vars["IP_RANGES_BUCKET"], vars["IP_RANGES_KEY"], bucket, ipranges.ObjectKey)
		}
		if fn == detect && vars["AWS_IP_RANGES_FILE"] != ipranges.BundledFile {
			t.Errorf("detect: AWS_IP_RANGES_FILE %v, want %s", vars["AWS_IP_RANGES_FILE"], ipranges.BundledFile)
		}
	}
}

func TestIPRangesBucketIsPrivateEncryptedAndTLSOnly(t *testing.T) {
	bucket, key, _, _ := ipRangesIDs(t)
	tpl := fixture.centralTpl
	b := resources(tpl, "AWS::S3::Bucket")[bucket]
	p := props(b)
	if _, ok := resources(tpl, "AWS::KMS::Key")[key]; !ok {
		t.Errorf("bucket key %s is not a customer-managed key of the stack", key)
	}
	enc := asMap(asList(asMap(p["BucketEncryption"])["ServerSideEncryptionConfiguration"])[0])
	if asMap(enc["ServerSideEncryptionByDefault"])["SSEAlgorithm"] != "aws:kms" || enc["BucketKeyEnabled"] != true {
		t.Errorf("bucket encryption %v", enc)
	}
	wantBlock := map[string]interface{}{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
	if !reflect.DeepEqual(p["PublicAccessBlockConfiguration"], wantBlock) {
		t.Errorf("public access block %v", p["PublicAccessBlockConfiguration"])
	}
	if asMap(p["VersioningConfiguration"])["Status"] != "Enabled" || b["DeletionPolicy"] != "Retain" {
		t.Errorf("versioning %v deletion policy %v", p["VersioningConfiguration"], b["DeletionPolicy"])
	}
	if asMap(p["OwnershipControls"]) == nil || !strings.Contains(mustJSON(p["OwnershipControls"]), "BucketOwnerEnforced") {
		t.Errorf("ownership controls %v (ACLs must be off)", p["OwnershipControls"])
	}
	guarded := false
	for _, bp := range resources(tpl, "AWS::S3::BucketPolicy") {
		if ref(props(bp)["Bucket"]) != bucket {
			continue
		}
		for _, s := range asList(asMap(props(bp)["PolicyDocument"])["Statement"]) {
			st := asMap(s)
			if isTLSGuard(st) && len(asList(st["Resource"])) == 2 {
				guarded = true
			} else if st["Effect"] == "Allow" {
				t.Errorf("bucket policy allows %v", st)
			}
		}
	}
	if !guarded {
		t.Error("no TLS-only guard on the bucket and its objects")
	}
}

// TestIPRangesRefresherTriggers: AWS's topic in us-east-1, a daily
// schedule with a DLQ and retries, and the deployment custom resource.
func TestIPRangesRefresherTriggers(t *testing.T) {
	_, _, refresher, _ := ipRangesIDs(t)
	tpl := fixture.centralTpl
	subs := 0
	for id, s := range resources(tpl, "AWS::SNS::Subscription") {
		p := props(s)
		if p["Protocol"] != "lambda" {
			continue
		}
		subs++
		if p["TopicArn"] != ipranges.TopicARN || p["Region"] != "us-east-1" || ref(p["Endpoint"]) != refresher {
			t.Errorf("%s: subscription %v, want %s (Region us-east-1) to the refresher", id, p, ipranges.TopicARN)
		}
	}
	if subs != 1 {
		t.Errorf("%d lambda subscriptions, want 1", subs)
	}
	perms := map[string]bool{}
	for _, pm := range resources(tpl, "AWS::Lambda::Permission") {
		p := props(pm)
		if ref(p["FunctionName"]) != refresher || p["Action"] != "lambda:InvokeFunction" {
			continue
		}
		src := p["SourceArn"]
		switch {
		case p["Principal"] == "sns.amazonaws.com" && src == ipranges.TopicARN:
			perms["sns"] = true
		case p["Principal"] == "events.amazonaws.com" && ref(src) != "":
			perms["events"] = true
		default:
			t.Errorf("unexpected permission to invoke the refresher: %v", p)
		}
	}
	if !perms["sns"] || !perms["events"] {
		t.Errorf("invoke permissions %v, want sns (for AWS's topic) and events (for the schedule)", perms)
	}
	scheduled := 0
	for id, r := range resources(tpl, "AWS::Events::Rule") {
		p := props(r)
		if p["ScheduleExpression"] == nil {
			continue
		}
		scheduled++
		tg := asMap(asList(p["Targets"])[0])
		if p["ScheduleExpression"] != "rate(1 day)" || ref(tg["Arn"]) != refresher {
			t.Errorf("%s: schedule %v target %v", id, p["ScheduleExpression"], tg["Arn"])
		}
	}
	if scheduled != 1 {
		t.Errorf("%d scheduled rules, want 1", scheduled)
	}
	crs := resources(tpl, "Custom::AWSIPRanges")
	if len(crs) != 1 {
		t.Fatalf("%d Custom::AWSIPRanges resources, want 1", len(crs))
	}
	for id, cr := range crs {
		p := props(cr)
		build, _ := p["Build"].(string)
		if ref(p["ServiceToken"]) != refresher || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(build) {
			t.Errorf("%s: service token %v build %q", id, p["ServiceToken"], build)
		}
	}
}

// roleActions returns the actions each role's identity policies grant,
// with their resources rendered as JSON.
func roleActions(t *testing.T, fn string) map[string][]string {
	t.Helper()
	tpl := fixture.centralTpl
	role := ref(props(resources(tpl, "AWS::Lambda::Function")[fn])["Role"])
	out := map[string][]string{}
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		attached := false
		for _, r := range asList(props(p)["Roles"]) {
			attached = attached || ref(r) == role
		}
		if !attached {
			continue
		}
		for _, s := range asList(asMap(props(p)["PolicyDocument"])["Statement"]) {
			st := asMap(s)
			for _, a := range asList(st["Action"]) {
				for _, r := range asList(st["Resource"]) {
					out[a.(string)] = append(out[a.(string)], mustJSON(r))
				}
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func mustJSON(v interface{}) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestIPRangesGrantsAreScoped: the refresher reads and writes the one
// object and uses the bucket key; detect reads that object and decrypts;
// nothing more on the bucket for either.
func TestIPRangesGrantsAreScoped(t *testing.T) {
	bucket, key, refresher, detect := ipRangesIDs(t)
	object := mustJSON(map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
		map[string]interface{}{"Fn::GetAtt": []interface{}{bucket, "Arn"}}, "/" + ipranges.ObjectKey}}})
	keyARN := mustJSON(map[string]interface{}{"Fn::GetAtt": []interface{}{key, "Arn"}})

	got := roleActions(t, refresher)
	want := map[string][]string{"s3:GetObject": {object}, "s3:PutObject": {object}, "kms:GenerateDataKey": {keyARN}, "kms:Decrypt": {keyARN}}
	for a, res := range got {
		if strings.HasPrefix(a, "logs:") {
			continue
		}
		if !reflect.DeepEqual(res, want[a]) {
			t.Errorf("refresher: %s on %v, want %v", a, res, want[a])
		}
	}
	for a := range want {
		if got[a] == nil {
			t.Errorf("refresher lacks %s", a)
		}
	}

	got = roleActions(t, detect)
	if !reflect.DeepEqual(got["s3:GetObject"], []string{object}) {
		t.Errorf("detect: s3:GetObject on %v, want only %s", got["s3:GetObject"], object)
	}
	decrypt := false
	for _, r := range got["kms:Decrypt"] {
		decrypt = decrypt || r == keyARN
	}
	if !decrypt {
		t.Errorf("detect cannot decrypt with the bucket key: kms:Decrypt on %v", got["kms:Decrypt"])
	}
	for a, res := range got {
		if strings.HasPrefix(a, "s3:") && a != "s3:GetObject" {
			t.Errorf("detect: unexpected %s on %v", a, res)
		}
	}
}

// TestMissingBundledRangesIsAClearError: the app refuses to synthesize a
// detect function without the ranges the Makefile bundles, or without the
// ipranges function.
func TestMissingBundledRangesIsAClearError(t *testing.T) {
	for _, missing := range []string{"detect/" + ipranges.BundledFile, ipranges.FunctionName + "/bootstrap"} {
		t.Run(missing, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"detect/bootstrap", "notify/bootstrap", ipranges.FunctionName + "/bootstrap", "detect/" + ipranges.BundledFile} {
				if f == missing {
					continue
				}
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := DefaultConfig()
			cfg.FunctionsDir = dir
			_, err := Build(awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false)}), cfg)
			if err == nil || !strings.Contains(err.Error(), missing+" is missing") || !strings.Contains(err.Error(), "make build-lambda") {
				t.Errorf("error %v", err)
			}
		})
	}
}
