package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crossin-lab/crossin/atomicfile"
	"github.com/crossin-lab/crossin/hub/hubserver"
	"github.com/crossin-lab/crossin/schema"
	"github.com/crossin-lab/crossin/smoke/standin"
)

const hubGroupShort = "A local Hugging Face hub stand-in for smoke runs"

// hubCmd is `crossin hub`: stand-in hub repositories and a server for them.
func hubCmd() *cobra.Command {
	g := &cobra.Command{Use: "hub", Short: hubGroupShort}
	g.AddCommand(hubStandinsCmd(), hubServeCmd())
	return g
}

func hubStandinsCmd() *cobra.Command {
	var out, from string
	cmd := &cobra.Command{
		Use:   "standins [SPEC...] -o DIR",
		Short: "Write stand-in hub repositories for every hub reference of a spec",
		Long: `Standins writes, under DIR/models/OWNER/NAME and DIR/datasets/OWNER/NAME,
a stand-in repository for every hub reference of the spec (models, data
sources, benchmarks), under the real names and in the real formats: a
model's real config.json and a tokenizer (Llama-2's real one; for Gemma and
Mistral a generated one of the same kind, labelled as a stand-in), data
files (Parquet, Alpaca JSON, JSONL) and SeaEval benchmark files made from
the samples under experiments/data. Serve DIR with 'crossin hub serve' and
point HF_ENDPOINT at it for 'crossin run --smoke'. The output is
deterministic. Every repository has a README.md saying what it holds.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return Usagef("give the output directory with -o DIR")
			}
			spec, err := schema.Load(specPaths(args)...)
			if err != nil {
				return err
			}
			repos, err := standin.Repos(spec, from)
			if err != nil {
				return err
			}
			if len(repos) == 0 {
				return fmt.Errorf("the spec has no hub references; nothing to stand in for")
			}
			if err := hubserver.Write(out, repos); err != nil {
				return err
			}
			for _, r := range repos {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %d files\n", r.Kind, r.ID, len(r.Files))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the repositories under")
	cmd.Flags().StringVar(&from, "from", ".", "the crossin checkout whose experiments/ samples and assets the stand-ins are made from")
	return cmd
}

func hubServeCmd() *cobra.Command {
	var addr, urlFile, token string
	cmd := &cobra.Command{
		Use:   "serve DIR",
		Short: "Serve a directory of repositories over the Hugging Face hub API",
		Long: `Serve answers the hub API (revision info, file trees, resolve and raw
downloads, LFS redirects) for the repositories under DIR
(DIR/models/OWNER/NAME/..., DIR/datasets/OWNER/NAME/...), each as one
commit on "main" whose id is a hash of its files. It runs until
interrupted. Use it as HF_ENDPOINT=http://ADDR for crossin or any
Hugging Face client.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repos, err := hubserver.Load(args[0])
			if err != nil {
				return err
			}
			var opts []hubserver.Option
			if token != "" {
				opts = append(opts, hubserver.WithToken(token))
			}
			srv, err := hubserver.New(repos, opts...)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			url := "http://" + ln.Addr().String()
			if urlFile != "" {
				if err := os.MkdirAll(filepath.Dir(urlFile), 0o755); err != nil {
					return err
				}
				if err := atomicfile.Write(urlFile, []byte(url+"\n"), 0o644); err != nil {
					return err
				}
			}
			for _, r := range srv.Repos() {
				fmt.Fprintf(cmd.ErrOrStderr(), "serving %s\n", r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", url)
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			select {
			case err := <-done:
				return err
			case <-cmd.Context().Done():
				hs.Close()
				if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	cmd.Flags().StringVar(&urlFile, "url-file", "", "write the server's URL to this file once it listens")
	cmd.Flags().StringVar(&token, "token", "", "require this bearer token (as a gated repository)")
	return cmd
}
