// Package configparam reads the deployed thresholds.yaml from SSM Parameter
// Store: the parameter's value itself, or, when the document is too large
// for one parameter, the parts its manifest names (the layout
// infra/internal/thresholds deploys: a "format:
// trailwatch-config-parts/v1" manifest with the SHA-256 of the document
// and the names of its parts, the base64 of its gzip in order).
//
// The detect function reads its parameter with its own cache and reload
// logic (functions/detect/config.go) and decodes the value with ReadParts,
// so both accept the same manifests.
package configparam

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"gopkg.in/yaml.v3"
)

// SSMAPI is what Read calls: GetParameter for the parameter, GetParameters
// for the parts of a split document.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// ManifestFormat starts the value of a parameter that names the parts of a
// larger document.
const ManifestFormat = "format: trailwatch-config-parts/v1"

// MaxParts bounds the parts a manifest may name; MaxBytes a decompressed
// document.
const (
	MaxParts = 50
	MaxBytes = 4 << 20
)

// Read returns the config document the parameter name holds.
func Read(ctx context.Context, c SSMAPI, name string) ([]byte, error) {
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read config parameter %s: %w", name, err)
	}
	var value string
	if out.Parameter != nil {
		value = aws.ToString(out.Parameter.Value)
	}
	doc, err := ReadParts(ctx, c, value)
	if err != nil {
		return nil, fmt.Errorf("config parameter %s: %w", name, err)
	}
	return doc, nil
}

// ManifestError is a parts manifest that can never be read (it does not
// parse, or names no parts, too many, or no digest): a caller rejects it as
// it would a config that does not parse, where a failed read of the parts
// may succeed later.
type ManifestError struct{ Err error }

func (e *ManifestError) Error() string { return "parts manifest: " + e.Err.Error() }
func (e *ManifestError) Unwrap() error { return e.Err }

// PartsReader is what ReadParts calls: GetParameters for the parts.
type PartsReader interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// IsManifest reports whether a parameter value is a parts manifest: a
// line of its own says so (a thresholds.yaml never has a format key).
func IsManifest(value string) bool {
	for _, line := range strings.Split(value, "\n") {
		if strings.TrimSpace(line) == ManifestFormat {
			return true
		}
	}
	return false
}

// manifest is the value of a split config's parameter.
type manifest struct {
	Format   string   `yaml:"format"`
	SHA256   string   `yaml:"sha256"`
	Encoding string   `yaml:"encoding"`
	Parts    []string `yaml:"parts"`
}

// ReadParts returns the config document a parameter value stands for: the
// value itself, or, for a manifest, its parts read with GetParameters (ten
// names a call), joined, decoded and checked against its digest. A manifest
// that can never be read is a *ManifestError.
func ReadParts(ctx context.Context, c PartsReader, value string) ([]byte, error) {
	if !IsManifest(value) {
		return []byte(value), nil
	}
	var m manifest
	if err := yaml.Unmarshal([]byte(value), &m); err != nil {
		return nil, &ManifestError{err}
	}
	if m.Encoding != "gzip+base64" || len(m.Parts) == 0 || len(m.Parts) > MaxParts || len(m.SHA256) != 64 {
		return nil, &ManifestError{fmt.Errorf("want encoding gzip+base64, 1 to %d parts and a SHA-256", MaxParts)}
	}
	got := map[string]string{}
	for i := 0; i < len(m.Parts); i += 10 {
		names := m.Parts[i:min(i+10, len(m.Parts))]
		out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read parts: %w", err)
		}
		if len(out.InvalidParameters) > 0 {
			return nil, fmt.Errorf("read parts: not found: %s", strings.Join(out.InvalidParameters, ", "))
		}
		for _, p := range out.Parameters {
			got[aws.ToString(p.Name)] = aws.ToString(p.Value)
		}
	}
	var enc strings.Builder
	for _, n := range m.Parts {
		v, ok := got[n]
		if !ok {
			return nil, fmt.Errorf("read parts: %s missing from the answer", n)
		}
		enc.WriteString(v)
	}
	gz, err := base64.StdEncoding.DecodeString(enc.String())
	if err != nil {
		return nil, fmt.Errorf("decode parts: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decode parts: %w", err)
	}
	doc, err := io.ReadAll(io.LimitReader(zr, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decode parts: %w", err)
	}
	if len(doc) > MaxBytes {
		return nil, fmt.Errorf("decode parts: larger than %d bytes", MaxBytes)
	}
	sum := sha256.Sum256(doc)
	if hex.EncodeToString(sum[:]) != strings.ToLower(m.SHA256) {
		return nil, fmt.Errorf("parts do not match the manifest's digest (parameters being updated?)")
	}
	return doc, nil
}
