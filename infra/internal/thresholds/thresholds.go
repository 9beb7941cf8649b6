// Package thresholds is the detector configuration concern: thresholds.yaml,
// read when the app is synthesized, deployed to SSM Parameter Store where
// the detect function reads it (and reloads it without a redeploy).
//
// A document that fits a standard parameter (4 KB) is deployed as is, one
// String parameter the console can edit. A larger one, such as a long list
// of user rules, is not refused: it is gzip-compressed, base64-encoded and
// split over as many standard parameters as it needs (Parts), and the main
// parameter holds a manifest naming them in order with the SHA-256 of the
// document. The detect function reads the manifest, then the parts
// (GetParameters), and uses the result only when its digest matches, so a
// reader between two parameter updates of a deployment keeps its last good
// config instead of reading half of each.
package thresholds

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DefaultConfig is deployed when the thresholds file does not exist: a
// document with only the version, under which the detectors use their
// built-in defaults (it must pass `trailwatch validate`).
const DefaultConfig = `# Trailwatch detector configuration (embedded default).
# No thresholds.yaml was found when the CDK app was synthesized, so the
# detectors run with their built-in defaults. Deploy your own with
#   npx cdk deploy TrailwatchCentral -c thresholdsFile=path/to/thresholds.yaml
# or edit this parameter: the detect function reloads it without a redeploy.
version: 1
`

const (
	// standardLimit is what a standard-tier parameter holds.
	standardLimit = 4096
	// partSize is the base64 text per part, under standardLimit.
	partSize = 4000
	// MaxParts bounds the parts of one document (the detect function
	// reads them ten per GetParameters call).
	MaxParts = 50
	// ManifestFormat starts the main parameter's value when the
	// document is split; the detect function recognizes it by this line.
	ManifestFormat = "format: trailwatch-config-parts/v1"
)

// Load returns the content of path, or DefaultConfig (and false) when the
// file does not exist. Files its networks name are read and inlined
// (ResolveNetworks). Any other read error or an empty file is an error;
// a large file is split when deployed (Split), refused only beyond
// MaxParts parameters.
func Load(path string) (content string, fromFile bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConfig, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read thresholds file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", false, fmt.Errorf("thresholds file %s is empty", path)
	}
	// Network files are read here: the deployed document must stand alone.
	content, _, err = ResolveNetworks(string(b), filepath.Dir(path))
	if err != nil {
		return "", false, fmt.Errorf("thresholds file %s: %w", path, err)
	}
	if _, err := Split(content); err != nil {
		return "", false, fmt.Errorf("thresholds file %s: %w", path, err)
	}
	return content, true, nil
}

// Split returns the parameter values that carry content: nil when it fits
// one standard parameter, else the parts (base64 of its gzip, in order).
func Split(content string) ([]string, error) {
	if len(content) <= standardLimit {
		return nil, nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write([]byte(content)); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var parts []string
	for len(enc) > 0 {
		n := min(partSize, len(enc))
		parts = append(parts, enc[:n])
		enc = enc[n:]
	}
	if len(parts) > MaxParts {
		return nil, fmt.Errorf("%d bytes compress to %d parameters of %d bytes; at most %d are deployed", len(content), len(parts), partSize, MaxParts)
	}
	return parts, nil
}

// Manifest is the main parameter's value for a split document: the format
// line, the document's SHA-256 and its parts' parameter names in order.
func Manifest(content string, partNames []string) string {
	sum := sha256.Sum256([]byte(content))
	var b strings.Builder
	b.WriteString("# Trailwatch thresholds.yaml, too large for one parameter: compressed\n")
	b.WriteString("# (gzip, base64) and split over the parameters below, in order.\n")
	b.WriteString(ManifestFormat + "\n")
	b.WriteString("sha256: " + hex.EncodeToString(sum[:]) + "\n")
	b.WriteString("encoding: gzip+base64\n")
	b.WriteString("parts:\n")
	for _, n := range partNames {
		b.WriteString("  - \"" + n + "\"\n")
	}
	return b.String()
}

// Thresholds is the constructed configuration: the parameter the detect
// function is pointed at, and the parts it names when the document is
// split.
type Thresholds struct {
	Parameter awsssm.StringParameter
	Parts     []awsssm.StringParameter
}

// New creates the parameter construct id holding content, split over
// parts when it does not fit one standard parameter (Split). content must
// have passed Load.
func New(scope constructs.Construct, id, content, source string) *Thresholds {
	t := &Thresholds{}
	desc := "Trailwatch detector thresholds, suppressions and rules (thresholds.yaml), from " + source
	parts, err := Split(content)
	if err != nil {
		panic(err) // Load refused it already
	}
	value := content
	if parts != nil {
		var names []string
		for i, p := range parts {
			part := awsssm.NewStringParameter(scope, jsii.String(fmt.Sprintf("%sPart%02d", id, i+1)), &awsssm.StringParameterProps{
				Description: jsii.String(fmt.Sprintf("Part %d of %d of the compressed thresholds.yaml (from %s)", i+1, len(parts), source)),
				StringValue: jsii.String(p),
				Tier:        awsssm.ParameterTier_STANDARD,
			})
			t.Parts = append(t.Parts, part)
			names = append(names, *part.ParameterName())
		}
		value = Manifest(content, names)
		desc += " (manifest of its parts)"
	}
	t.Parameter = awsssm.NewStringParameter(scope, jsii.String(id), &awsssm.StringParameterProps{
		Description: jsii.String(desc),
		StringValue: jsii.String(value),
		Tier:        awsssm.ParameterTier_STANDARD,
	})
	// The manifest changes after its parts: CloudFormation updates the
	// parts first, and a reader in between sees a digest mismatch.
	for _, p := range t.Parts {
		t.Parameter.Node().AddDependency(p)
	}
	return t
}

// GrantRead gives grantee ssm:GetParameter on the parameter and
// ssm:GetParameters on its parts, and nothing else.
func (t *Thresholds) GrantRead(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ThresholdsParameter"),
		Actions:   jsii.Strings("ssm:GetParameter"),
		Resources: jsii.Strings(*t.Parameter.ParameterArn()),
	}))
	if len(t.Parts) == 0 {
		return
	}
	var arns []*string
	for _, p := range t.Parts {
		arns = append(arns, p.ParameterArn())
	}
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ThresholdsParameterParts"),
		Actions:   jsii.Strings("ssm:GetParameters"),
		Resources: &arns,
	}))
}
