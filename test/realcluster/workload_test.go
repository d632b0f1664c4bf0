package realcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// report is what the test workload prints: the pod's environment and files as it saw them at start.
type report struct {
	Env    map[string]string `json:"env"`
	Files  map[string]string `json:"files"`
	Errors []string          `json:"errors"`
}

// workloadYAML is a Deployment of the test workload with one replica. envFrom names a ConfigMap
// read through envFrom ("" for none); volume one mounted at /etc/statsig ("" for none).
func workloadYAML(image, ns, name, envFrom, volume string) string {
	var env, mounts, volumes string
	if envFrom != "" {
		env = fmt.Sprintf(`
        envFrom:
        - configMapRef: {name: %s, optional: true}`, envFrom)
	}
	if volume != "" {
		mounts = `
        volumeMounts:
        - {name: statsig, mountPath: /etc/statsig, readOnly: true}`
		volumes = fmt.Sprintf(`
      volumes:
      - name: statsig
        configMap: {name: %s, optional: true}`, volume)
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec:
      terminationGracePeriodSeconds: 2
      automountServiceAccountToken: false
      containers:
      - name: workload
        image: %[3]s
        env:
        - {name: WORKLOAD_DIRS, value: /etc/statsig}%[4]s%[5]s%[6]s
`, ns, name, image, env, mounts, volumes)
}

// podState is one running pod of a workload and what it printed.
type podState struct {
	name, uid string
	report    report
}

// workloadPods returns the workload's pods when the Deployment has finished rolling out (every pod
// from the newest template, none terminating) and each has printed its report.
func (c *cluster) workloadPods(ctx context.Context, ns, name string) ([]podState, error) {
	var d appsv1.Deployment
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		return nil, err
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.Replicas != want {
		return nil, fmt.Errorf("deployment %s/%s rolling: generation %d observed %d, updated %d, replicas %d",
			ns, name, d.Generation, d.Status.ObservedGeneration, d.Status.UpdatedReplicas, d.Status.Replicas)
	}
	var pods corev1.PodList
	if err := c.client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return nil, err
	}
	var out []podState
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			return nil, fmt.Errorf("pod %s is %s (deleting: %t)", p.Name, p.Status.Phase, p.DeletionTimestamp != nil)
		}
		r, err := c.podReport(ctx, ns, p.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, podState{name: p.Name, uid: string(p.UID), report: r})
	}
	if int32(len(out)) != want {
		return nil, fmt.Errorf("deployment %s/%s: %d pods, want %d", ns, name, len(out), want)
	}
	return out, nil
}

// podReport reads the workload's report from the pod's log, through the API server and the kubelet,
// as `kubectl logs` does.
func (c *cluster) podReport(ctx context.Context, ns, pod string) (report, error) {
	raw, err := c.clientset.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return report{}, fmt.Errorf("logs of %s/%s: %w", ns, pod, err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "WORKLOAD "); ok {
			var r report
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return report{}, fmt.Errorf("report of %s/%s: %w", ns, pod, err)
			}
			return r, nil
		}
	}
	return report{}, fmt.Errorf("pod %s/%s printed no report yet", ns, pod)
}

// waitPods waits until every pod of the workload saw what check accepts, and returns them.
func (c *cluster) waitPods(limit time.Duration, ns, name string, check func(report) error) ([]podState, error) {
	var pods []podState
	err := waitFor(limit, fmt.Sprintf("pods of %s/%s", ns, name), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if pods, err = c.workloadPods(ctx, ns, name); err != nil {
			return err
		}
		for _, p := range pods {
			if err := check(p.report); err != nil {
				return fmt.Errorf("pod %s: %w", p.name, err)
			}
		}
		return nil
	})
	return pods, err
}

func envIs(key, want string) func(report) error {
	return func(r report) error {
		if got, ok := r.Env[key]; !ok || got != want {
			return fmt.Errorf("env %s = %q (set: %t), want %q", key, got, ok, want)
		}
		return nil
	}
}

func fileIs(path, want string) func(report) error {
	return func(r report) error {
		if got, ok := r.Files[path]; !ok || got != want {
			return fmt.Errorf("file %s = %q (present: %t), want %q; errors %v", path, got, ok, want, r.Errors)
		}
		return nil
	}
}

func fileHas(path, part string) func(report) error {
	return func(r report) error {
		if got, ok := r.Files[path]; !ok || !strings.Contains(got, part) {
			return fmt.Errorf("file %s = %q (present: %t), want it to contain %q; errors %v", path, got, ok, part, r.Errors)
		}
		return nil
	}
}

func all(checks ...func(report) error) func(report) error {
	return func(r report) error {
		for _, c := range checks {
			if err := c(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// apply runs `kubectl apply -f -` with the manifests, in the order given.
func (c *cluster) apply(manifests ...string) error {
	cmd := exec.Command("ip", "netns", "exec", c.ns.name, c.bins["kubectl"], "--kubeconfig", c.kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(strings.Join(manifests, "\n---\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	return nil
}

// replicaSets counts the ReplicaSets of a Deployment: one per pod template it has run.
func (c *cluster) replicaSets(ctx context.Context, ns, app string) (int, error) {
	var rs appsv1.ReplicaSetList
	if err := c.client.List(ctx, &rs, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		return 0, err
	}
	return len(rs.Items), nil
}
