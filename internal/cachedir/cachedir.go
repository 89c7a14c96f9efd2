// Package cachedir resolves crossin's cache directory. It is the one place
// that reads $CROSSIN_CACHE, so the stage cache (runner/cache), the plan's
// key records and hash memo (runner/plan, cli), and the hub's downloads
// (hub, under "hub/") always agree on where the cache is.
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env names the environment variable that overrides the cache directory.
const Env = "CROSSIN_CACHE"

// Dir returns $CROSSIN_CACHE as an absolute path, or else the "crossin"
// folder of the user cache directory (os.UserCacheDir).
func Dir() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set %s (%w)", Env, err)
	}
	return filepath.Join(d, "crossin"), nil
}
