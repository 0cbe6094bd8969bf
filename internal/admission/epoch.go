package admission

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Epoch names the author epoch: a ConfigMap that is the param of the author policies, and the
// policies and bindings whose enforcement it vouches for. The mutating policy writes the
// ConfigMap's UID into every author record it writes. Renew replaces the ConfigMap whenever one of
// those objects was missing or changed, so a record written while they were not enforced never
// names the current epoch: its UID is new, and only the enforced mutation reveals it.
type Epoch struct {
	// Namespace and Name locate the ConfigMap: the manager's namespace, and the name that the
	// bindings' paramRef gives.
	Namespace string
	Name      string
	// AuthorPolicy names the MutatingAdmissionPolicy that records authors, and its binding.
	AuthorPolicy string
	// GuardPolicy names the ValidatingAdmissionPolicy that guards the record, and its binding.
	GuardPolicy string
}

// PlainEpoch is the epoch as config/admission names it, before config/default adds its
// namePrefix.
var PlainEpoch = Epoch{
	Namespace:    "kubesift-system",
	Name:         "author-epoch",
	AuthorPolicy: "query-author",
	GuardPolicy:  "query-author-guard",
}

// ErrNoEpoch means there is no author epoch: a policy or binding it would vouch for is missing.
var ErrNoEpoch = errors.New("no author epoch")

// LabelAuthorEpoch marks the ConfigMap as the author epoch.
const LabelAuthorEpoch = "search.kubesift.io/author-epoch"

// Key returns the ConfigMap's namespace and name.
func (e Epoch) Key() types.NamespacedName {
	return types.NamespacedName{Namespace: e.Namespace, Name: e.Name}
}

// Vouches reports whether obj is one of the policies or bindings the epoch vouches for.
func (e Epoch) Vouches(obj client.Object) bool {
	for _, v := range e.vouched() {
		if v.kind == kindOf(obj) && v.obj.GetName() == obj.GetName() {
			return true
		}
	}
	return false
}

type vouchedObject struct {
	kind string
	obj  client.Object
}

// vouched returns empty objects named like the policies and bindings.
func (e Epoch) vouched() []vouchedObject {
	named := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }
	return []vouchedObject{
		{"MutatingAdmissionPolicy", &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: named(e.AuthorPolicy)}},
		{"MutatingAdmissionPolicyBinding", &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: named(e.AuthorPolicy)}},
		{"ValidatingAdmissionPolicy", &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: named(e.GuardPolicy)}},
		{"ValidatingAdmissionPolicyBinding", &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: named(e.GuardPolicy)}},
	}
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return "MutatingAdmissionPolicy"
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return "MutatingAdmissionPolicyBinding"
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return "ValidatingAdmissionPolicy"
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return "ValidatingAdmissionPolicyBinding"
	}
	return ""
}

// record reads the policies and bindings and returns what the ConfigMap must hold for them: for
// each, under a key of its kind and name, its UID and generation. It returns an error wrapping
// ErrNoEpoch, and the kind and name, when one is missing.
func (e Epoch) record(ctx context.Context, c client.Reader) (map[string]string, error) {
	rec := map[string]string{}
	for _, v := range e.vouched() {
		if err := c.Get(ctx, client.ObjectKeyFromObject(v.obj), v.obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("%w: %s %q does not exist", ErrNoEpoch, v.kind, v.obj.GetName())
			}
			return nil, fmt.Errorf("getting %s %q: %w", v.kind, v.obj.GetName(), err)
		}
		rec[strings.ToLower(v.kind)+"."+v.obj.GetName()] =
			string(v.obj.GetUID()) + "/" + strconv.FormatInt(v.obj.GetGeneration(), 10)
	}
	return rec, nil
}

// Renew makes the epoch ConfigMap vouch for the policies and bindings as they are now. A ConfigMap
// whose record of their UIDs and generations differs, because one of them was deleted, re-created
// or changed since it was written, is deleted: every author record then names a dead epoch. When
// all of them exist, Renew creates a new ConfigMap if there is none and returns it. When one is
// missing, it returns an error wrapping ErrNoEpoch, and there is no ConfigMap.
//
// The manager renews the epoch whenever one of these objects changes; a program that installs
// the policies without running the manager calls Renew itself. c may read from a cache: a stale
// read ends in a conflict or an AlreadyExists error, and a retry settles it.
func (e Epoch) Renew(ctx context.Context, c client.Client) (*corev1.ConfigMap, error) {
	rec, recErr := e.record(ctx, c)
	if recErr != nil && !errors.Is(recErr, ErrNoEpoch) {
		return nil, recErr
	}
	cm := &corev1.ConfigMap{}
	err := c.Get(ctx, e.Key(), cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = nil
	case err != nil:
		return nil, fmt.Errorf("getting the author epoch %s: %w", e.Key(), err)
	}
	if cm != nil && recErr == nil && maps.Equal(cm.Data, rec) {
		return cm, nil
	}
	if cm != nil {
		// Only the ConfigMap that was read: a newer one was written for what is newer still.
		if err := c.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting the author epoch %s: %w", e.Key(), err)
		}
	}
	if recErr != nil {
		return nil, recErr
	}
	cm = &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: e.Namespace,
			Name:      e.Name,
			Labels:    map[string]string{LabelAuthorEpoch: "true", "app.kubernetes.io/managed-by": "kubesift"},
		},
		Data: rec,
	}
	if err := c.Create(ctx, cm); err != nil {
		return nil, fmt.Errorf("creating the author epoch %s: %w", e.Key(), err)
	}
	return cm, nil
}
