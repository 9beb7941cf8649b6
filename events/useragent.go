package events

import "strings"

// uaProducts maps a product token, as it appears before its version, to the
// family reported to detectors. Order matters: the first match wins, so
// specific tools come before the SDKs they embed.
var uaProducts = []struct{ token, family string }{
	{"Terraform/", "Terraform"},
	{"terraform-provider-aws/", "Terraform"},
	{"Pulumi/", "Pulumi"},
	{"pulumi-", "Pulumi"},
	{"aws-cdk/", "aws-cdk"},
	{"aws-cli/", "aws-cli"},
	{"AWSPowerShell", "aws-powershell"},
	{"Boto3/", "Boto3"},
	{"Botocore/", "Botocore"},
	{"aws-sdk-go-v2/", "aws-sdk-go-v2"},
	{"aws-sdk-go/", "aws-sdk-go"},
	{"aws-sdk-java/", "aws-sdk-java"},
	{"aws-sdk-js/", "aws-sdk-js"},
	{"aws-sdk-nodejs/", "aws-sdk-js"},
	{"aws-sdk-dotnet", "aws-sdk-dotnet"},
	{"aws-sdk-ruby", "aws-sdk-ruby"},
	{"aws-sdk-php/", "aws-sdk-php"},
	{"aws-sdk-rust/", "aws-sdk-rust"},
	{"aws-sdk-cpp/", "aws-sdk-cpp"},
	{"aws-internal/", "aws-internal"},
	{"python-requests/", "python-requests"},
	{"curl/", "curl"},
	{"Go-http-client/", "go-http-client"},
	{"okhttp/", "okhttp"},
}

// UserAgentFamily reduces a user agent to its family with the version
// stripped: aws-cli, Boto3, aws-sdk-go-v2, console, Terraform, a service
// name such as cloudformation, aws-internal, or the first product token.
// A new laptop with a newer CLI keeps its family; a switch from the CLI to
// python-requests does not.
func UserAgentFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return "none"
	}
	if ua == "AWS Internal" || ua == "AWS internal" {
		return "aws-internal"
	}
	switch {
	case strings.HasPrefix(ua, "console.") && strings.HasSuffix(ua, ".amazonaws.com"),
		strings.HasPrefix(ua, "signin.amazonaws.com"),
		strings.HasPrefix(ua, "Mozilla/"),
		strings.HasPrefix(ua, "AWS Signin"),
		strings.HasPrefix(ua, "S3Console/"):
		return "console"
	}
	if strings.HasSuffix(ua, ".amazonaws.com") && !strings.ContainsAny(ua, " /") {
		// A service calling on the principal's behalf, e.g.
		// cloudformation.amazonaws.com.
		return strings.TrimSuffix(ua, ".amazonaws.com")
	}
	inner := strings.Trim(ua, "[]")
	for _, p := range uaProducts {
		if strings.Contains(inner, p.token) {
			return p.family
		}
	}
	// Fall back to the first product token without its version.
	tok := inner
	if i := strings.IndexAny(tok, " /;("); i >= 0 {
		tok = tok[:i]
	}
	tok = strings.Trim(tok, "[]\"'")
	if tok == "" {
		return "other"
	}
	if len(tok) > 40 {
		tok = tok[:40]
	}
	return tok
}
