// Package oci connects crossin to OCI registries: it resolves image
// references to digests (so the digest, never a tag, enters an action key),
// reads and writes crossin.lock, builds the crossin trainer image without a
// container engine (the way ko does) and stores stage outputs as OCI
// artifacts for the remote cache.
//
// Everything OCI goes through github.com/google/go-containerregistry.
// Credentials come from the standard Docker keychain (~/.docker/config.json,
// credential helpers, DOCKER_CONFIG). Plain HTTP is used only for registries
// on the loopback interface (localhost, 127.0.0.0/8, [::1]) or registries
// named with WithInsecure, so a typo never sends a token in clear text.
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client holds the registry settings shared by resolution, push and pull.
type Client struct {
	keychain  authn.Keychain
	insecure  map[string]bool
	transport http.RoundTripper
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain replaces the default Docker keychain (tests, CI tokens).
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithInsecure allows plain HTTP for the named registries ("host:port").
// Loopback registries are always allowed plain HTTP.
func WithInsecure(registries ...string) Option {
	return func(c *Client) {
		for _, r := range registries {
			if r = strings.TrimSpace(r); r != "" {
				c.insecure[r] = true
			}
		}
	}
}

// NewClient returns a Client using the default Docker keychain. The
// CROSSIN_INSECURE_REGISTRIES environment variable (comma-separated
// host:port list) adds plain-HTTP registries, like WithInsecure.
func NewClient(opts ...Option) *Client {
	c := &Client{keychain: authn.DefaultKeychain, insecure: map[string]bool{}, userAgent: "crossin"}
	for _, r := range strings.Split(getenv("CROSSIN_INSECURE_REGISTRIES"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.insecure[r] = true
		}
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// plainHTTP reports whether registry (host[:port]) may be spoken to over
// plain HTTP: loopback hosts always, others only when configured.
func (c *Client) plainHTTP(registry string) bool {
	if c.insecure[registry] {
		return true
	}
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// nameOptions are the parse options for a reference on this client.
func (c *Client) nameOptions(s string) []name.Option {
	opts := []name.Option{name.StrictValidation}
	// Find the registry part the way the name package does: the first
	// path component, if it looks like a host.
	reg := s
	if i := strings.IndexByte(reg, '/'); i >= 0 {
		reg = reg[:i]
	} else {
		reg = ""
	}
	if reg != "" && c.plainHTTP(reg) {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// ParseReference parses an image reference ("reg/repo:tag" or
// "reg/repo@sha256:..."), allowing plain HTTP where the client does.
// References without a tag or digest are refused, so that a spec never
// silently means ":latest".
func (c *Client) ParseReference(s string) (name.Reference, error) {
	if s == "" {
		return nil, errors.New("empty image reference")
	}
	opts := c.nameOptions(s)
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w (want REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST)", s, err)
	}
	return ref, nil
}

// ParseRepository parses a repository ("reg/repo", no tag).
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s, c.nameOptions(s)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %w (want REGISTRY/REPOSITORY)", s, err)
	}
	return repo, nil
}

// remoteOptions are the go-containerregistry options for one call.
func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithUserAgent(c.userAgent),
		remote.WithRetryPredicate(retryable),
	}
	if c.transport != nil {
		opts = append(opts, remote.WithTransport(c.transport))
	}
	return opts
}

// retryable keeps go-containerregistry's retries for transient failures
// (timeouts, resets, 5xx) but not for an unknown host or a refused
// connection: those will not heal within a retry, and planning offline must
// fail fast with a clear message instead of backing off for seconds.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout && !dnsErr.IsNotFound
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return opErr.Timeout()
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Resolve returns the pinned form of an image reference:
// "registry/repository@sha256:<hex>". A reference that already carries a
// digest is checked to exist (so a missing image fails before any work
// starts) and returned in canonical form.
func (c *Client) Resolve(ctx context.Context, ref string) (string, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r, c.remoteOptions(ctx)...)
	if err != nil {
		return "", registryError("resolve", ref, err)
	}
	return r.Context().Digest(desc.Digest.String()).String(), nil
}

// registryError turns a go-containerregistry failure into one that says
// what was wrong and what to do: unreachable registry, missing image or
// missing credentials.
func registryError(op, ref string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: image not found in the registry (check the repository and tag, or push it first)", op, ref)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s %s: access denied (%d); log in with `docker login` or `podman login` (crossin reads the Docker keychain)", op, ref, terr.StatusCode)
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("%s %s: image not found in the registry (check the repository and tag, or push it first)", op, ref)
			}
		}
		return fmt.Errorf("%s %s: registry error: %w", op, ref, err)
	}
	var nerr net.Error
	var operr *net.OpError
	if errors.As(err, &operr) || errors.As(err, &nerr) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") {
		return fmt.Errorf("%s %s: registry unreachable: %w (is it running and is the address right?)", op, ref, err)
	}
	return fmt.Errorf("%s %s: %w", op, ref, err)
}
