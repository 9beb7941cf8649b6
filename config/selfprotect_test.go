package config

import (
	"strings"
	"testing"
	"time"
)

// TestSelfProtectionSection: self_protection adds resources and deployers,
// validated by the schema and for meaning.
func TestSelfProtectionSection(t *testing.T) {
	for _, tc := range []struct {
		name, doc, wantErr string
	}{
		{"resources and deployers", "version: 1\nself_protection:\n  resources: [queue/extra, 'parameter/trailwatch/*']\n  deployers: ['arn:aws:iam::111122223333:role/release-*']\n", ""},
		{"unknown kind", "version: 1\nself_protection:\n  resources: [database/x]\n", "self_protection"},
		{"everything", "version: 1\nself_protection:\n  resources: ['queue/*']\n", "line 3: self_protection: self-protection resource \"queue/*\""},
		{"deployer not an ARN", "version: 1\nself_protection:\n  deployers: ['*']\n", "self_protection"},
		{"deployer matching everyone", "version: 1\nself_protection:\n  deployers: ['arn:*']\n", "self-protection deployer"},
		{"unknown key", "version: 1\nself_protection:\n  principals: [x]\n", "self_protection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse("t.yaml", []byte(tc.doc), time.Now())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Protected == nil || len(cfg.SelfProtection.Deployers) != 1 || len(cfg.SelfProtection.Resources) != 2 {
					t.Errorf("protection not kept: %+v", cfg.SelfProtection)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
