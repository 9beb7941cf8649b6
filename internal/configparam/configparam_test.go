package configparam

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// parameters is an in-memory Parameter Store.
type parameters map[string]string

func (p parameters) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	v, ok := p[aws.ToString(in.Name)]
	if !ok {
		return nil, &types.ParameterNotFound{}
	}
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Name: in.Name, Value: aws.String(v)}}, nil
}

func (p parameters) GetParameters(_ context.Context, in *ssm.GetParametersInput, _ ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	out := &ssm.GetParametersOutput{}
	for _, n := range in.Names {
		if v, ok := p[n]; ok {
			out.Parameters = append(out.Parameters, types.Parameter{Name: aws.String(n), Value: aws.String(v)})
		} else {
			out.InvalidParameters = append(out.InvalidParameters, n)
		}
	}
	return out, nil
}

// split stores doc as a manifest and parts of size n, as
// infra/internal/thresholds deploys a large thresholds.yaml.
func split(p parameters, name, doc string, n int, digest string) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(doc))
	zw.Close()
	enc := base64.StdEncoding.EncodeToString(gz.Bytes())
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nsha256: %s\nencoding: gzip+base64\nparts:\n", ManifestFormat, digest)
	for i := 0; len(enc) > 0; i++ {
		k := min(n, len(enc))
		part := fmt.Sprintf("%s-part-%d", name, i)
		p[part] = enc[:k]
		enc = enc[k:]
		fmt.Fprintf(&b, "  - %s\n", part)
	}
	p[name] = b.String()
}

func TestRead(t *testing.T) {
	doc := strings.Repeat("detectors:\n  new_api_call:\n    mode: alert\n", 200)
	sum := sha256.Sum256([]byte(doc))
	p := parameters{"plain": "version: 1\n"}
	split(p, "split", doc, 100, hex.EncodeToString(sum[:]))
	split(p, "tampered", doc, 100, strings.Repeat("0", 64))
	split(p, "missing-part", doc, 100, hex.EncodeToString(sum[:]))
	delete(p, "missing-part-part-1")
	for _, c := range []struct {
		name, want string
		bad        bool
	}{
		{"plain", "version: 1\n", false},
		{"split", doc, false},
		{"tampered", "", true},
		{"missing-part", "", true},
		{"absent", "", true},
	} {
		got, err := Read(context.Background(), p, c.name)
		if (err != nil) != c.bad || string(got) != c.want {
			t.Errorf("%s: %d bytes, %v; want %d bytes, error %v", c.name, len(got), err, len(c.want), c.bad)
		}
	}
}
