package infra

import (
	"os/exec"
	"path/filepath"
	"strings"
)

// pinnedNodeBin returns the bin directory of this platform's pinned Node
// package under the repository's node_modules (node-package.sh names the
// package), or "" on a platform without one.
func pinnedNodeBin() string {
	out, err := exec.Command("sh", "node-package.sh").Output()
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(filepath.Join("..", "node_modules", strings.TrimSpace(string(out)), "bin"))
	if err != nil {
		return ""
	}
	return abs
}
