package realcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/rolloutevents"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

const (
	eventsNS = "journey-k"
	// eventsMinReady keeps the workload's new pods ready but not yet available for a while, so that
	// an exposure sent when the pods are ready (and not when they are available) shows in its time.
	eventsMinReady = 10 * time.Second
)

// statsigEventsSnapshotYAML is a ConfigSnapshot of one experiment and one gate, refreshed every
// 30 s, rolling the Deployment target; with on, it logs exposures and rollout events to Statsig.
func statsigEventsSnapshotYAML(name, experiment, gate, configMap, target string, on bool) string {
	options := ""
	if on {
		options = "\n  logExposures: true\n  statsigEvents: {rollouts: true}"
	}
	return fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: ConfigSnapshot
metadata: {name: %s, namespace: %s}
spec:
  secretRef: {name: statsig}
  user: {userID: realcluster}
  refreshIntervalSeconds: 30
  experiments: [%s]
  gates: [%s]
  target: {configMapName: %s, format: Env}
  rolloutTargets:
  - {kind: Deployment, name: %s}%s
`, name, eventsNS, experiment, gate, configMap, target, options)
}

// slowWorkloadYAML is workloadYAML whose pods count as available eventsMinReady after they are ready.
func slowWorkloadYAML(image, ns, name, envFrom string) string {
	return strings.Replace(workloadYAML(image, ns, name, envFrom, ""), "  replicas: 1\n",
		fmt.Sprintf("  replicas: 1\n  minReadySeconds: %d\n", int(eventsMinReady.Seconds())), 1)
}

// eventsSent is what the fake accepted from journey k: exposures of its entities (named k_*) and
// rollout events of its snapshots.
type eventsSent struct {
	exposures []statsigtest.LoggedExposure
	events    []statsigtest.LoggedEvent
}

func (s *suite) eventsSent() eventsSent {
	var out eventsSent
	for _, e := range s.fake.LoggedExposures() {
		if strings.HasPrefix(e.ExperimentName, "k_") || strings.HasPrefix(e.GateName, "k_") {
			out.exposures = append(out.exposures, e)
		}
	}
	for _, e := range s.fake.LoggedEvents() {
		if strings.HasPrefix(e.Metadata["snapshot"], "ConfigSnapshot/"+eventsNS+"/") ||
			strings.HasPrefix(fmt.Sprint(e.Value), "Deployment/"+eventsNS+"/") {
			out.events = append(out.events, e)
		}
	}
	return out
}

func (e eventsSent) String() string {
	var b strings.Builder
	for _, x := range e.exposures {
		fmt.Fprintf(&b, "exposure{experiment %q group %q gate %q passes %v rule %q time %v} ", x.ExperimentName, x.Group, x.GateName,
			x.Passes != nil && *x.Passes, x.RuleID, x.Time)
	}
	for _, x := range e.events {
		fmt.Fprintf(&b, "event{%s %v %v %v} ", x.EventName, x.Value, x.Time, x.Metadata)
	}
	return b.String()
}

// sentAt is the time field of a logged exposure or event, Unix milliseconds.
func sentAt(v any) (time.Time, error) {
	switch x := v.(type) {
	case float64:
		return time.UnixMilli(int64(x)), nil
	case string:
		var ms int64
		if _, err := fmt.Sscan(x, &ms); err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", x, err)
		}
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, fmt.Errorf("time %v (%T) is not Unix milliseconds", v, v)
}

// rolloutState is a Deployment's rollout to a snapshot's current content as the test sees it.
type rolloutState struct {
	hash     string // the snapshot's status.contentHash
	carried  bool   // the pod template carries hash
	complete bool   // ... and its new pods are all available, as `kubectl rollout status` judges
}

// With first, the workload was created after the snapshot's first content and runs it without a
// rollout: its pod template carries no hash.
func (s *suite) rolloutState(ctx context.Context, snapshot, app string, first bool) (rolloutState, error) {
	cs, err := s.snapshot(eventsNS, snapshot)
	if err != nil {
		return rolloutState{}, err
	}
	var d appsv1.Deployment
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: eventsNS, Name: app}, &d); err != nil {
		return rolloutState{}, err
	}
	st := rolloutState{hash: cs.Status.ContentHash}
	a := d.Spec.Template.Annotations[statsigv1alpha1.AnnotationSnapshotHash]
	st.carried = st.hash != "" && (a == st.hash || first && a == "")
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ds := d.Status
	st.complete = st.carried && ds.ObservedGeneration >= d.Generation && ds.UpdatedReplicas == want && ds.Replicas == want &&
		ds.AvailableReplicas == want
	return st, nil
}

// availableSince is the earliest moment the workload's current pods can have become available: the
// latest Ready transition of its pods (whole seconds, so never later than the real one) plus
// minReadySeconds.
func (s *suite) availableSince(ctx context.Context, app string) (time.Time, error) {
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(eventsNS), client.MatchingLabels{"app": app}); err != nil {
		return time.Time{}, err
	}
	var ready time.Time
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		i := slices.IndexFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady })
		if i < 0 || p.Status.Conditions[i].Status != corev1.ConditionTrue {
			return time.Time{}, fmt.Errorf("pod %s is not ready", p.Name)
		}
		ready = later(ready, p.Status.Conditions[i].LastTransitionTime.Time)
	}
	if ready.IsZero() {
		return time.Time{}, fmt.Errorf("no pods of %s/%s", eventsNS, app)
	}
	return ready.Add(eventsMinReady), nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// rolloutWatch is what watchSends saw.
type rolloutWatch struct {
	sent      eventsSent
	rolled    time.Time // first seen carrying the new content
	completed time.Time // first seen complete
	sawGap    bool      // seen carrying it, not complete, with nothing new sent
}

// watchSends waits until the snapshot's content differs from oldHash, the workload carries it, and
// the fake holds wantExposures and wantEvents of journey k. On every look it checks that nothing new
// was sent while the rollout was still in progress: it reads the fake first and the Deployment
// after, and a completed rollout stays completed, so a send seen before completion was sent before it.
// oldHash "" is the first content.
func (s *suite) watchSends(t *testing.T, snapshot, app, oldHash string, before eventsSent, wantExposures, wantEvents int) rolloutWatch {
	t.Helper()
	ctx := context.Background()
	var w rolloutWatch
	reported := false
	err := waitFor(rolloutWait, fmt.Sprintf("%d exposures and %d rollout events after the rollout of %s", wantExposures, wantEvents, app), func() error {
		sent := s.eventsSent()
		st, err := s.rolloutState(ctx, snapshot, app, oldHash == "")
		if err != nil {
			return err
		}
		fresh := st.hash != oldHash && st.carried
		grew := len(sent.exposures) > len(before.exposures) || len(sent.events) > len(before.events)
		if fresh && w.rolled.IsZero() {
			w.rolled = time.Now()
		}
		if fresh && st.complete && w.completed.IsZero() {
			w.completed = time.Now()
		}
		if grew && !st.complete && !reported {
			reported = true
			t.Errorf("sent to Statsig while the rollout of %s was not complete (content %s, carried %t): %s", app, st.hash, st.carried, sent)
		}
		if fresh && !st.complete && !grew {
			w.sawGap = true
		}
		w.sent = sent
		if len(sent.exposures) < wantExposures || len(sent.events) < wantEvents {
			return fmt.Errorf("sent so far: %s", sent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// expectSentAfterAvailable checks that the time of each new exposure and event is not before the
// workload's new pods became available.
func (s *suite) expectSentAfterAvailable(t *testing.T, app string, before, after eventsSent) time.Duration {
	t.Helper()
	available, err := s.availableSince(context.Background(), app)
	fatalIf(t, err)
	var times []time.Time
	for _, e := range after.exposures[len(before.exposures):] {
		at, err := sentAt(e.Time)
		fatalIf(t, err)
		times = append(times, at)
	}
	for _, e := range after.events[len(before.events):] {
		at, err := sentAt(e.Time)
		fatalIf(t, err)
		times = append(times, at)
	}
	var first time.Time
	for _, at := range times {
		if at.Before(available) {
			t.Errorf("sent with time %s, before the new pods of %s were available (not before %s)", at.UTC().Format(time.RFC3339Nano), app,
				available.UTC().Format(time.RFC3339Nano))
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first.Sub(available)
}

func experimentSent(e statsigtest.LoggedExposure, name, group string) error {
	if e.ExperimentName != name || e.Group != group || e.GateName != "" || e.RuleID != "fake_group_"+group || e.User.UserID != "realcluster" {
		return fmt.Errorf("exposure %+v, want experiment %s group %s for user realcluster", e, name, group)
	}
	return nil
}

func gateSent(e statsigtest.LoggedExposure, name string, passes bool, rule string) error {
	if e.GateName != name || e.Passes == nil || *e.Passes != passes || e.RuleID != rule || e.ExperimentName != "" || e.User.UserID != "realcluster" {
		return fmt.Errorf("exposure %+v, want gate %s passes %t rule %s for user realcluster", e, name, passes, rule)
	}
	return nil
}

// rolloutEventSent checks one statsig_operator_rollout event of the Deployment app.
func rolloutEventSent(e statsigtest.LoggedEvent, snapshot, app, hash, changed string) error {
	want := map[string]string{"snapshot": "ConfigSnapshot/" + eventsNS + "/" + snapshot, "contentHash": hash, "changedEntities": changed}
	if e.EventName != rolloutevents.EventName || fmt.Sprint(e.Value) != "Deployment/"+eventsNS+"/"+app || e.User.UserID != "realcluster" ||
		!mapsEqual(e.Metadata, want) {
		return fmt.Errorf("event %+v, want %s of Deployment/%s/%s with metadata %v", e, rolloutevents.EventName, eventsNS, app, want)
	}
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if got, ok := a[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// configReads counts the get_config calls that read a config or experiment.
func (s *suite) configReads(name string) int {
	n := 0
	for _, r := range s.fake.Requests(statsig.EndpointGetConfig) {
		if r.JSON["configName"] == name {
			n++
		}
	}
	return n
}

// restartOperator restarts the operator Deployment as it is installed (`kubectl rollout restart`) and
// waits until all its new pods are available.
func (s *suite) restartOperator(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var d appsv1.Deployment
	fatalIf(t, s.client.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d))
	image, replicas := d.Spec.Template.Spec.Containers[0].Image, int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	generation := d.Generation
	_, err := s.kubectl("-n", operatorNS, "rollout", "restart", "deployment/"+operatorName)
	fatalIf(t, err)
	fatalIf(t, waitFor(rolloutWait, "restarted operator", func() error {
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &d); err != nil {
			return err
		}
		if d.Generation == generation {
			return fmt.Errorf("not restarted yet")
		}
		return nil
	}))
	fatalIf(t, s.waitOperator(replicas, image))
}

// (k) Statsig hears what the pods did: with logExposures and statsigEvents.rollouts, one
// log_custom_exposure per group change and one statsig_operator_rollout event per completed
// rollout, at the moment the new pods are available and never from a poll; nothing is resent or lost
// across operator restarts; with the options off (the default) nothing is sent at all.
func (s *suite) journeyStatsigEvents(t *testing.T) {
	ctx := context.Background()
	wl := s.images[workloadImageTar]
	s.fake.SetExperiment("k_experiment", "Control", map[string]any{"color": "blue"})
	s.fake.SetGate("k_gate", false)
	s.fake.SetExperiment("k_quiet_experiment", "Control", map[string]any{"color": "blue"})
	s.fake.SetGate("k_quiet_gate", false)
	if sent := s.eventsSent(); len(sent.exposures)+len(sent.events) > 0 {
		t.Fatalf("the fake holds sends of journey k before it started: %s", sent)
	}

	// The snapshots first, then the Deployments that read them: their pods start with the first
	// content, which rolls nothing (no event) but is what they run (its exposures, once available).
	start := time.Now()
	fatalIf(t, s.apply(namespaceYAML(eventsNS, ""), s.secretYAML(eventsNS),
		statsigEventsSnapshotYAML("events", "k_experiment", "k_gate", "k-events", "app", true),
		statsigEventsSnapshotYAML("quiet", "k_quiet_experiment", "k_quiet_gate", "k-quiet", "quiet-app", false)))
	fatalIf(t, s.waitConfigMap(eventsNS, "k-events"))
	fatalIf(t, s.waitConfigMap(eventsNS, "k-quiet"))
	none := s.eventsSent()
	if len(none.exposures) > 0 {
		t.Errorf("exposures before any pod runs the content: %s", none)
	}
	fatalIf(t, s.apply(slowWorkloadYAML(wl, eventsNS, "app", "k-events"), slowWorkloadYAML(wl, eventsNS, "quiet-app", "k-quiet")))
	w := s.watchSends(t, "events", "app", "", none, 2, 0)
	fatalIf(t, s.waitSteady(eventsNS, "events"))
	_, err := s.waitPods(podWait, eventsNS, "app", all(envIs("STATSIG_EXPERIMENT_K_EXPERIMENT_GROUP", "Control"), envIs("STATSIG_GATE_K_GATE", "false")))
	fatalIf(t, err)
	figure(t, "k-apply-to-first-exposures", time.Since(start))
	d := s.expectSentAfterAvailable(t, "app", none, w.sent)
	figure(t, "k-first-available-to-exposure", d)
	first := s.eventsSent()
	if len(first.exposures) != 2 || len(first.events) != 0 {
		t.Fatalf("after the first content: %s; want 2 exposures and no rollout event (nothing was rolled)", first)
	}
	for _, err := range []error{experimentSent(first.exposures[0], "k_experiment", "Control"),
		gateSent(first.exposures[1], "k_gate", false, "default")} {
		if err != nil {
			t.Error(err)
		}
	}

	// A group change: the experiment's group and the gate's value change; the rollout carries both.
	cs, err := s.snapshot(eventsNS, "events")
	fatalIf(t, err)
	oldHash := cs.Status.ContentHash
	s.fake.SetExperiment("k_experiment", "Test", map[string]any{"color": "green"})
	s.fake.SetGate("k_gate", true)
	start = time.Now()
	s.bump(t, eventsNS, "events")
	w = s.watchSends(t, "events", "app", oldHash, first, 4, 1)
	figure(t, "k-change-to-rolled", w.rolled.Sub(start))
	figure(t, "k-change-to-exposures-and-event", time.Since(start))
	if !w.completed.IsZero() {
		figure(t, "k-seen-complete-to-seen-sent", time.Since(w.completed))
	}
	if !w.sawGap {
		t.Logf("the test never saw the rollout in progress (a busy machine): the times of the sends still prove when they were made")
	}
	d = s.expectSentAfterAvailable(t, "app", first, w.sent)
	figure(t, "k-change-available-to-exposure", d)
	_, err = s.waitPods(podWait, eventsNS, "app", all(envIs("STATSIG_EXPERIMENT_K_EXPERIMENT_GROUP", "Test"), envIs("STATSIG_GATE_K_GATE", "true")))
	fatalIf(t, err)
	fatalIf(t, s.waitSteady(eventsNS, "events"))
	cs, err = s.snapshot(eventsNS, "events")
	fatalIf(t, err)
	changed := s.eventsSent()
	if len(changed.exposures) != 4 || len(changed.events) != 1 {
		t.Fatalf("after one change of the experiment's group and the gate: %s; want 4 exposures and 1 rollout event", changed)
	}
	newExposures := changed.exposures[2:]
	slices.SortFunc(newExposures, func(a, b statsigtest.LoggedExposure) int { return strings.Compare(a.GateName, b.GateName) })
	for _, err := range []error{experimentSent(newExposures[0], "k_experiment", "Test"),
		gateSent(newExposures[1], "k_gate", true, "fake_pass_rule"),
		rolloutEventSent(changed.events[0], "events", "app", cs.Status.ContentHash, "experiment/k_experiment,gate/k_gate")} {
		if err != nil {
			t.Error(err)
		}
	}

	// Polls: two refreshes of the snapshot (30 s each) with nothing changed send nothing. Meanwhile
	// the snapshot with the options off rolls its workload to a new group.
	start = time.Now()
	reads := s.configReads("k_experiment")
	quietHash := s.mustSnapshot(t, "quiet").Status.ContentHash
	s.fake.SetExperiment("k_quiet_experiment", "Test", map[string]any{"color": "green"})
	s.fake.SetGate("k_quiet_gate", true)
	s.bump(t, eventsNS, "quiet")
	_, err = s.waitPods(rolloutWait, eventsNS, "quiet-app", all(envIs("STATSIG_EXPERIMENT_K_QUIET_EXPERIMENT_GROUP", "Test"),
		envIs("STATSIG_GATE_K_QUIET_GATE", "true")))
	fatalIf(t, err)
	fatalIf(t, s.waitSteady(eventsNS, "quiet"))
	figure(t, "k-options-off-change-to-pod", time.Since(start))
	quiet := s.mustSnapshot(t, "quiet")
	if quiet.Status.ContentHash == quietHash || quiet.Status.StatsigEvents != nil {
		t.Errorf("the snapshot with the options off: content %s → %s, status.statsigEvents %+v; want a new content and no statsigEvents",
			quietHash, quiet.Status.ContentHash, quiet.Status.StatsigEvents)
	}
	fatalIf(t, waitFor(3*time.Minute, "two refreshes of journey-k/events", func() error {
		if n := s.configReads("k_experiment") - reads; n < 2 {
			return fmt.Errorf("%d reads of k_experiment since the last change", n)
		}
		return nil
	}))
	figure(t, "k-two-refreshes", time.Since(start))
	s.expectSentUnchanged(t, "two refreshes without a change", changed)

	// A restart with nothing due sends nothing again.
	start = time.Now()
	s.restartOperator(t)
	value := s.bump(t, eventsNS, "events")
	fatalIf(t, s.waitHandled(eventsNS, "events", value))
	value = s.bump(t, eventsNS, "quiet")
	fatalIf(t, s.waitHandled(eventsNS, "quiet", value))
	figure(t, "k-restart-to-synced", time.Since(start))
	s.expectSentUnchanged(t, "an operator restart", changed)

	// A change whose rollout the operator starts and does not see complete: the operator's pods
	// are deleted as soon as the workload carries the change. The operator that comes back sends its
	// exposure and its event once.
	oldHash = s.mustSnapshot(t, "events").Status.ContentHash
	s.fake.SetExperiment("k_experiment", "Treatment", map[string]any{"color": "red"})
	start = time.Now()
	s.bump(t, eventsNS, "events")
	fatalIf(t, waitFor(podWait, "the change carried by journey-k/app", func() error {
		st, err := s.rolloutState(ctx, "events", "app", false)
		if err != nil {
			return err
		}
		if st.hash == oldHash || !st.carried {
			return fmt.Errorf("content %s, carried %t", st.hash, st.carried)
		}
		return nil
	}))
	deleted := time.Now()
	_, err = s.kubectl("-n", operatorNS, "delete", "pod", "-l", "app.kubernetes.io/name=statsig-operator", "--timeout=60s")
	fatalIf(t, err)
	figure(t, "k-operator-pods-deleted-and-gone", time.Since(deleted))
	st, err := s.rolloutState(ctx, "events", "app", false)
	fatalIf(t, err)
	if sent := s.eventsSent(); st.complete || sent.String() != changed.String() {
		t.Logf("the rollout of journey-k/app completed (%t) or was reported (%s) before the operator's pods were gone (a busy machine)",
			st.complete, sent)
	} else {
		t.Logf("the operator's pods are gone, the rollout of journey-k/app is in progress and nothing of it was sent: the operator that comes back sends it")
	}
	w = s.watchSends(t, "events", "app", oldHash, changed, 5, 2)
	figure(t, "k-change-across-restart-to-exposure-and-event", time.Since(start))
	d = s.expectSentAfterAvailable(t, "app", changed, w.sent)
	figure(t, "k-restart-available-to-exposure", d)
	var dep appsv1.Deployment
	fatalIf(t, s.client.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: operatorName}, &dep))
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	fatalIf(t, s.waitOperator(replicas, dep.Spec.Template.Spec.Containers[0].Image))
	value = s.bump(t, eventsNS, "events")
	fatalIf(t, s.waitHandled(eventsNS, "events", value))
	fatalIf(t, s.waitSteady(eventsNS, "events"))
	cs = s.mustSnapshot(t, "events")
	after := s.eventsSent()
	if len(after.exposures) != 5 || len(after.events) != 2 {
		t.Fatalf("after a change across a restart: %s; want 5 exposures and 2 rollout events", after)
	}
	for _, err := range []error{experimentSent(after.exposures[4], "k_experiment", "Treatment"),
		rolloutEventSent(after.events[1], "events", "app", cs.Status.ContentHash, "experiment/k_experiment")} {
		if err != nil {
			t.Error(err)
		}
	}

	// Reads never log an exposure themselves, and nothing at all names the snapshot with the
	// options off.
	for _, e := range []string{statsig.EndpointCheckGate, statsig.EndpointGetConfig} {
		for _, r := range s.fake.Requests(e) {
			if (slices.ContainsFunc(r.GateNames(), func(n string) bool { return strings.HasPrefix(n, "k_") }) ||
				strings.HasPrefix(fmt.Sprint(r.JSON["configName"]), "k_")) && !r.ExposureLoggingDisabled() {
				t.Errorf("a read %s of %v %v logged an exposure", e, r.GateNames(), r.JSON["configName"])
			}
		}
	}
	for _, e := range after.exposures {
		if strings.HasPrefix(e.ExperimentName, "k_quiet") || strings.HasPrefix(e.GateName, "k_quiet") {
			t.Errorf("an exposure of the snapshot with the options off: %+v", e)
		}
	}
	for _, e := range after.events {
		if e.Metadata["snapshot"] != "ConfigSnapshot/"+eventsNS+"/events" {
			t.Errorf("an event of the snapshot with the options off: %+v", e)
		}
	}

	// The later journeys restart, upgrade and replace the operator: at the end, nothing of this
	// journey was sent again.
	s.final = append(s.final, func(t *testing.T) { s.expectSentUnchanged(t, "the journeys after k", after) })
}

func (s *suite) mustSnapshot(t *testing.T, name string) *statsigv1alpha1.ConfigSnapshot {
	t.Helper()
	cs, err := s.snapshot(eventsNS, name)
	fatalIf(t, err)
	return cs
}

// expectSentUnchanged checks that the fake holds exactly what journey k had sent before.
func (s *suite) expectSentUnchanged(t *testing.T, what string, before eventsSent) {
	t.Helper()
	if now := s.eventsSent(); now.String() != before.String() {
		t.Errorf("%s sent to Statsig again:\nbefore %s\nnow    %s", what, before, now)
	}
}
