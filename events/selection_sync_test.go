package events

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSelectionMatchesInfra keeps replay's selection equal to the
// production EventBridge rule in the CDK app (a separate Go module, so its
// source is read as text): the same authorization error codes, the same
// detail types.
func TestSelectionMatchesInfra(t *testing.T) {
	src, err := os.ReadFile("../infra/internal/ingest/pattern.go")
	if err != nil {
		t.Fatalf("the CDK app's selection: %v", err)
	}
	block := func(start string) []string {
		i := strings.Index(string(src), start)
		if i < 0 {
			t.Fatalf("%q not found in pattern.go", start)
		}
		rest := string(src)[i:]
		end := strings.Index(rest, "}")
		return regexp.MustCompile(`"([^"]+)"`).FindAllString(rest[:end], -1)
	}
	var codes []string
	for _, q := range block("AuthorizationDeniedErrorCodes: []string{") {
		codes = append(codes, strings.Trim(q, `"`))
	}
	if !slices.Equal(codes, DeniedErrorCodes()) {
		t.Errorf("infra denies %v, replay selects %v", codes, DeniedErrorCodes())
	}
	for _, dt := range []string{`"AWS API Call via CloudTrail"`, `"AWS Console Sign In via CloudTrail"`, `"AwsConsoleSignIn"`, `{"readOnly": []interface{}{false}}`} {
		if !strings.Contains(string(src), strings.ReplaceAll(dt, `{"readOnly": []interface{}{false}}`, `"readOnly": []interface{}{false}`)) {
			t.Errorf("the CDK rule no longer mentions %s", dt)
		}
	}
}
