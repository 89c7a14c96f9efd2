package kubernetes

import (
	"context"
	"fmt"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Permission is one verb on one resource that the backend needs in its
// namespace; deploy/kubernetes/crossin-rbac.yaml grants exactly these.
type Permission struct {
	Group, Resource, Subresource, Verb string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	return p.Verb + " " + r
}

// Permissions lists what the backend does in its namespace.
var Permissions = []Permission{
	{"batch", "jobs", "", "create"},
	{"batch", "jobs", "", "get"},
	{"batch", "jobs", "", "list"},
	{"batch", "jobs", "", "watch"},
	{"batch", "jobs", "", "delete"},
	{"", "configmaps", "", "create"},
	{"", "configmaps", "", "delete"},
	{"", "configmaps", "", "patch"},
	{"", "pods", "", "list"},
	{"", "pods", "", "watch"},
	{"", "pods", "log", "get"},
	{"", "events", "", "list"},
}

// Preflight checks, before any stage runs, that the API server answers,
// that the namespace exists and that the RBAC rules allow every
// Permission, so that a cluster that cannot run the jobs fails in one line
// at once instead of at the first train stage.
func (b *Backend) Preflight(ctx context.Context) error {
	ns := b.cfg.Namespace
	if _, err := b.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("kubernetes: namespace %q does not exist; create it (kubectl create namespace %s, or deploy/kubernetes/crossin-rbac.yaml)", ns, ns)
		case apierrors.IsForbidden(err):
			// reading namespaces is cluster-scoped; many users may not
		default:
			return fmt.Errorf("kubernetes: API server not usable: %s", oneLine(err.Error()))
		}
	}
	for _, p := range Permissions {
		r, err := b.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: ns, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Verb: p.Verb,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return b.apiError("create", "selfsubjectaccessreviews", err)
		}
		if !r.Status.Allowed {
			return fmt.Errorf("kubernetes: RBAC: not allowed to %s in namespace %q; bind a role like deploy/kubernetes/crossin-rbac.yaml", p, ns)
		}
	}
	return nil
}
