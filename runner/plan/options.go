package plan

import (
	"context"
	"encoding/json"
	"time"
)

// Cache answers which action keys already have outputs. runner/cache
// implements it.
type Cache interface {
	Lookup(actionID string) (outputID string, ok bool)
}

// ImageResolver turns an image reference (tag) into its digest
// ("sha256:..."). The oci package provides one backed by crossin.lock.
type ImageResolver func(ctx context.Context, ref string) (digest string, err error)

// RevisionResolver turns a hub revision (branch or tag) of repo into a
// commit hash. kind is "model" or "dataset". The hub package provides one.
type RevisionResolver func(ctx context.Context, kind, repo, revision string) (commit string, err error)

type config struct {
	ctx         context.Context
	cache       Cache
	images      ImageResolver
	revisions   RevisionResolver
	hashFile    func(path string) (string, error)
	code        map[Kind]string
	arithmetic  string // the embedded engine's arithmetic path (WithArithmetic)
	experiments []string
	// resolveBudget bounds the time all resolver calls of one Build may
	// take together: resolvers may use the network, and an offline
	// machine must still get its plan (with the rest unresolved).
	resolveBudget time.Duration
	// smoke, when set, enters every stage's key (see WithSmoke).
	smoke json.RawMessage
}

// Option configures Build.
type Option func(*config)

// WithCache lets the plan mark stages cached or stale and use known
// upstream outputs in keys.
func WithCache(c Cache) Option { return func(cf *config) { cf.cache = c } }

// WithImageResolver sets how image tags become digests. Without one, only
// digest-pinned references ("name@sha256:...") give final keys.
func WithImageResolver(r ImageResolver) Option { return func(cf *config) { cf.images = r } }

// WithRevisionResolver sets how hub branches become commits. Without one,
// only 40-hex commit revisions give final keys.
func WithRevisionResolver(r RevisionResolver) Option {
	return func(cf *config) { cf.revisions = r }
}

// WithContext sets the context passed to resolvers.
func WithContext(ctx context.Context) Option { return func(cf *config) { cf.ctx = ctx } }

// WithFileHasher replaces the content hash of local files (default:
// SHA-256 of the bytes, memoised per process by path, size and mtime).
func WithFileHasher(h func(path string) (string, error)) Option {
	return func(cf *config) { cf.hashFile = h }
}

// WithCodeVersion sets the code version that enters the keys of one stage
// kind (default "crossin/KIND/v1"). Packages that implement a stage bump
// theirs when their output for the same inputs changes.
func WithCodeVersion(k Kind, version string) Option {
	return func(cf *config) { cf.code[k] = version }
}

// WithArithmetic sets the embedded engine's arithmetic path
// (tensor.ArithmeticPath(), e.g. "amd64-avx2-fma" or "arm64-generic"). It
// enters the backend component of the stages that run on an embedded
// backend (train and eval): their bytes depend on it, so a cache shared
// between machines never serves one path's outputs to another as if they
// were identical. Container and Slurm stages are keyed on their image
// instead.
func WithArithmetic(path string) Option { return func(cf *config) { cf.arithmetic = path } }

// WithResolveTimeout bounds the total time one Build spends in resolvers
// (default 15s). When it runs out, the remaining references stay
// unresolved instead of being asked for.
func WithResolveTimeout(d time.Duration) Option {
	return func(cf *config) { cf.resolveBudget = d }
}

// WithSmoke marks the plan as a smoke run (package smoke): desc, the
// smoke bounds, enters every stage's key as the component "smoke", so
// smoke outputs never share a key with a real run's.
func WithSmoke(desc json.RawMessage) Option {
	return func(cf *config) { cf.smoke = desc }
}

// WithExperiments restricts the plan to the named experiments.
func WithExperiments(names ...string) Option {
	return func(cf *config) { cf.experiments = append(cf.experiments, names...) }
}
