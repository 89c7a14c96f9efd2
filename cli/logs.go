package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/runner/cache"
)

// logsCmd is `crossin logs`.
func logsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "logs STAGE",
		Short: "Print the log of a stage (by stage name or action ID prefix), finished or failed",
		Long: `Print the log kept with a stage's outputs in the cache. STAGE is a stage
name as shown by crossin run and crossin plan (for example train/tiny/x2x/s42)
or a prefix of its action ID. When a stage has several entries (it was run
with different inputs), the most recent one is shown. The log of a stage
that failed or was interrupted is kept in its work directory and is shown
when there is no finished entry newer than it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c *cache.Cache
			var err error
			if dir != "" {
				c, err = cache.Open(dir)
			} else {
				c, err = cache.OpenDefault()
			}
			if err != nil {
				return err
			}
			path, err := findStageLog(c, args[0])
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("logs: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "cache-dir", "", "cache directory (default $CROSSIN_CACHE or the user cache dir)")
	return cmd
}

// findStageLog returns the newest log of the stage named key (or whose
// action ID starts with key): a finished entry's log or an unfinished
// stage's work log.
func findStageLog(c *cache.Cache, key string) (string, error) {
	type cand struct {
		path string
		mod  int64
	}
	var cands []cand
	for _, e := range c.Find(key) {
		p := c.LogPath(e.ActionID)
		if fi, err := os.Stat(p); err == nil {
			cands = append(cands, cand{p, fi.ModTime().UnixNano()})
		}
	}
	works, err := os.ReadDir(filepath.Join(c.Dir(), "work"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The log asked for may be among the unfinished ones.
		return "", fmt.Errorf("logs: %w", err)
	}
	for _, w := range works {
		p := filepath.Join(c.Dir(), "work", w.Name(), "stage.log")
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		match := len(key) >= 4 && strings.HasPrefix(w.Name(), cache.NormalizeID(key))
		if !match {
			// The first line names the stage: "== crossin: stage NAME (kind) ...".
			if f, err := os.Open(p); err == nil {
				buf := make([]byte, 512)
				n, _ := f.Read(buf)
				f.Close()
				match = strings.HasPrefix(string(buf[:n]), "== crossin: stage "+key+" (")
			}
		}
		if match {
			cands = append(cands, cand{p, fi.ModTime().UnixNano()})
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("logs: no stage %q in the cache %s (stage names are shown by `crossin run` and `crossin cache ls`)", key, c.Dir())
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mod > cands[j].mod })
	return cands[0].path, nil
}
