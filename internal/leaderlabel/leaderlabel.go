// Package leaderlabel marks the operator Pod that holds leadership, so that a Service can route to
// the leader alone. Only the leader serves the WebhookReceiver listener; a Service selecting every
// operator Pod would send part of Statsig's deliveries to a Pod whose port is closed.
package leaderlabel

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// releaseTimeout bounds the removal of the label at shutdown, which runs after the manager's
// context is done and must finish well inside the Pod's termination grace period.
const releaseTimeout = 5 * time.Second

// Labeler is a manager Runnable that, once this process is the leader, sets
// statsig-operator.io/webhook-leader=true on its own Pod and removes it from every other Pod in the
// namespace that still carries it (a crashed leader's restarted container keeps its labels). When
// the manager stops it removes the label from its own Pod, before leader election gives the lease up.
//
// Labels are only ever changed with a JSON merge patch of metadata.labels, so nothing else on a Pod
// is written and no read-modify-write races the kubelet. It needs get, list and patch on Pods in its
// own namespace only: config/rbac/leader_election_role.yaml grants them next to the leases. They are
// not kubebuilder markers because a marker's Role names a fixed namespace, while the operator's
// namespace is chosen at install time (kustomize or the Helm release).
type Labeler struct {
	// Reader lists Pods straight from the API server (a manager's APIReader), so that no Pod
	// informer, and no watch permission on Pods, is needed.
	Reader client.Reader
	// Writer patches Pods.
	Writer client.Writer
	// Namespace and Name identify this process's own Pod (the downward API's POD_NAMESPACE and
	// POD_NAME).
	Namespace, Name string
	Log             logr.Logger
	// Backoff spaces retries of a failed claim; the zero value means 1 s doubling to 30 s.
	Backoff wait.Backoff
}

// NeedLeaderElection makes the manager start the Labeler only on the elected leader.
func (l *Labeler) NeedLeaderElection() bool { return true }

// Start claims the label, retrying with backoff until it succeeds or ctx ends, then holds it until
// ctx ends and releases it.
func (l *Labeler) Start(ctx context.Context) error {
	b := l.Backoff
	if b.Steps == 0 {
		b = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 30 * time.Second}
	}
	for {
		err := l.claim(ctx)
		if err == nil {
			break
		}
		l.Log.Error(err, "Could not mark this Pod as the webhook leader; retrying", "pod", l.Name)
		t := time.NewTimer(b.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	<-ctx.Done()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := l.setLabel(rctx, l.Name, false); err != nil && !apierrors.IsNotFound(err) {
		// The next leader removes it anyway; say so rather than fail the shutdown.
		l.Log.Error(err, "Could not remove the webhook-leader label from this Pod; the next leader will", "pod", l.Name)
		return nil
	}
	l.Log.Info("Removed the webhook-leader label from this Pod", "pod", l.Name)
	return nil
}

// claim labels this Pod first, so that the Service has an endpoint as early as possible, then
// unlabels every other Pod that carries the label.
func (l *Labeler) claim(ctx context.Context) error {
	if err := l.setLabel(ctx, l.Name, true); err != nil {
		return err
	}
	l.Log.Info("Marked this Pod as the webhook leader", "pod", l.Name)
	pods := &corev1.PodList{}
	if err := l.Reader.List(ctx, pods, client.InNamespace(l.Namespace),
		client.MatchingLabels{statsigv1alpha1.LabelWebhookLeader: "true"}); err != nil {
		return fmt.Errorf("list Pods labeled %s in %s: %w", statsigv1alpha1.LabelWebhookLeader, l.Namespace, err)
	}
	for i := range pods.Items {
		name := pods.Items[i].Name
		if name == l.Name {
			continue
		}
		if err := l.setLabel(ctx, name, false); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		l.Log.Info("Removed the webhook-leader label from a Pod that no longer leads", "pod", name)
	}
	return nil
}

// setLabel sets the label to "true" on the named Pod, or removes it (a null in a merge patch).
func (l *Labeler) setLabel(ctx context.Context, name string, on bool) error {
	var value any // nil removes the key
	if on {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": map[string]any{statsigv1alpha1.LabelWebhookLeader: value}},
	})
	if err != nil {
		return err
	}
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = l.Namespace, name
	if err := l.Writer.Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("patch label %s on Pod %s/%s: %w", statsigv1alpha1.LabelWebhookLeader, l.Namespace, name, err)
	}
	return nil
}
