// Package rolloutevents tells Statsig what a snapshot's rollouts did: one log_custom_exposure per
// experiment group (and gate value) once pods really run it, and one log_event per completed
// rollout. The planner is pure, over the snapshot's status and the rollout's outcome; what was sent
// is recorded in status, so that a restart or a new leader neither repeats nor loses a send.
package rolloutevents

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/snapshot"
)

// EventName is the log_event name of a completed rollout.
const EventName = "statsig_operator_rollout"

// MaxInFlight bounds status.statsigEvents.inFlight (its MaxItems): the oldest entries go first.
const MaxInFlight = 20

// MaxFailedSends bounds the sends of what is due: after this many failed reconciles in a row, what
// was due is dropped.
const MaxFailedSends = 5

// Options are the spec's switches.
type Options struct {
	// Exposures: spec.logExposures on a snapshot with rolloutTargets.
	Exposures bool
	// Rollouts: spec.statsigEvents.rollouts.
	Rollouts bool
}

// On reports whether anything is to be sent.
func (o Options) On() bool { return o.Exposures || o.Rollouts }

// Observe records content just written (its hash and evaluated values) in s: which entities it
// changed since the content s described, and which experiment groups and gate values it carries
// that were not logged yet (recomputed on every sync, so that turning logExposures on takes effect
// without a change of content). The content it replaces is kept in s.InFlight while a rollout of
// it, started by the operator, has not been reported: that rollout is reported when it completes,
// even though the new content's rollout waits. With o off, s is cleared.
func Observe(s **statsigv1alpha1.StatsigEventsStatus, o Options, hash string, v *snapshot.Values) {
	if !o.On() {
		*s = nil
		return
	}
	if *s == nil {
		*s = &statsigv1alpha1.StatsigEventsStatus{}
	}
	st := *s
	if st.ContentHash != hash {
		st.InFlight = slices.DeleteFunc(st.InFlight, func(c statsigv1alpha1.InFlightContent) bool { return c.ContentHash == hash })
		if prev := st.ContentHash; prev != "" && slices.ContainsFunc(st.Rollouts, func(r statsigv1alpha1.ReportedRollout) bool { return r.Rolled == prev }) {
			st.InFlight = append(st.InFlight, statsigv1alpha1.InFlightContent{ContentHash: prev, Changed: st.Changed, PendingExposures: st.PendingExposures})
			st.InFlight = st.InFlight[max(len(st.InFlight)-MaxInFlight, 0):]
		}
		entities := digests(v)
		st.Changed = nil
		if len(st.Entities) > 0 {
			st.Changed = changed(st.Entities, entities)
		}
		st.ContentHash, st.Entities = hash, entities
		st.FailedSends = 0
	}
	st.PendingExposures = nil
	if !o.Exposures {
		st.Exposures = nil
		for i := range st.InFlight {
			st.InFlight[i].PendingExposures = nil
		}
		return
	}
	for _, e := range exposures(v, hash) {
		if last, ok := findExposure(st.Exposures, e.Kind, e.Name); ok && last.Group == e.Group && last.ValueHash == e.ValueHash {
			continue // this group and content were logged already
		}
		st.PendingExposures = append(st.PendingExposures, e)
	}
}

// Target is one rollout target as the rollout pass left it.
type Target struct {
	Kind, Namespace, Name string
	// Hash is the content its pods run, or are being replaced by (status.rollouts[].hash).
	Hash string
	// Rolled: the operator rolled it to the current content in this pass.
	Rolled bool
	// Complete: its pods of Hash are available (not missing or in progress). A target whose
	// rollout to the current content waits for the limit is complete when its pods of the earlier
	// content are.
	Complete bool
	// Earlier, for a target Rolled in this pass, is the content its pods carried before, and
	// EarlierComplete whether they were all available then: the rollout to Earlier completed
	// before this pass replaced it.
	Earlier         string
	EarlierComplete bool
}

// Value is the log_event value naming the workload.
func (t Target) Value() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

// Input is what a plan is made from.
type Input struct {
	Options
	// ContentHash is status.contentHash.
	ContentHash string
	Targets     []Target
}

// Rollout is one completed rollout of a target to a content.
type Rollout struct {
	Target
	// Hash is the content rolled out, Changed the entities it changed (for the event's metadata).
	Hash    string
	Changed []string
}

// Plan is what is due now.
type Plan struct {
	// Exposures to log, each naming the content that carried it.
	Exposures []statsigv1alpha1.LoggedExposure
	// Rollouts completed and not reported yet, to be sent as events (with statsigEvents.rollouts).
	Rollouts []Rollout
	// Completed are the rollouts this pass found complete and not reported yet, whether or not
	// events are sent: recorded by Completed.
	Completed []Rollout
}

// Empty reports whether nothing is due.
func (p Plan) Empty() bool { return len(p.Exposures) == 0 && len(p.Rollouts) == 0 }

// NoteRolled records the targets rolled to the current content in this pass: their rollouts are
// reported when they complete, even after a later content replaced the current one. A target that
// adopted the content without a rollout (created after it), and the first content (a baseline,
// which rolls nothing), are never noted. Report calls it after Due, which reads the rollouts the
// pass replaced.
func NoteRolled(s *statsigv1alpha1.StatsigEventsStatus, in Input) {
	if s == nil || !in.On() || s.ContentHash != in.ContentHash {
		return
	}
	for _, t := range in.Targets {
		if !t.Rolled {
			continue
		}
		if i := slices.IndexFunc(s.Rollouts, func(x statsigv1alpha1.ReportedRollout) bool { return sameTarget(x, t) }); i >= 0 {
			s.Rollouts[i].Rolled = in.ContentHash
		} else {
			s.Rollouts = append(s.Rollouts, statsigv1alpha1.ReportedRollout{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Rolled: in.ContentHash})
		}
	}
}

// Due plans what to send, before NoteRolled notes this pass's rollouts: an event for each rollout
// the operator started (to the current content or to an earlier one a later content replaced) whose
// pods are now available; the pending exposures of the current content once every target runs it
// with its new pods available; and those of an earlier content once a rollout of it completed and
// no target is still rolling it.
func Due(s *statsigv1alpha1.StatsigEventsStatus, in Input) Plan {
	var p Plan
	if s == nil || !in.On() || in.ContentHash == "" || s.ContentHash != in.ContentHash || len(in.Targets) == 0 {
		return p
	}
	completed := func(t Target, hash string) {
		r := Rollout{Target: t, Hash: hash, Changed: s.Changed}
		if hash != s.ContentHash {
			r.Changed = nil
			if c, ok := findInFlight(s.InFlight, hash); ok {
				r.Changed = c.Changed
			}
		}
		p.Completed = append(p.Completed, r)
	}
	// still: the earlier contents some target is still rolling, its new pods not available.
	still := map[string]bool{}
	all := true
	for _, t := range in.Targets {
		if !t.Complete || t.Hash != in.ContentHash {
			all = false
		}
		r, _ := findRollout(s.Rollouts, t)
		switch {
		case t.Rolled:
			if r.Rolled != "" && r.Rolled != in.ContentHash && t.EarlierComplete && t.Earlier == r.Rolled {
				completed(t, r.Rolled) // completed before this pass replaced it
			}
			if t.Complete && t.Hash == in.ContentHash {
				completed(t, in.ContentHash)
			}
		case r.Rolled == "":
		case t.Complete && t.Hash == r.Rolled:
			completed(t, r.Rolled)
		default:
			still[r.Rolled] = true
		}
	}
	if in.Rollouts {
		p.Rollouts = slices.Clone(p.Completed)
	}
	if !in.Exposures {
		return p
	}
	for _, c := range s.InFlight {
		done := c.CompletedTime != nil || slices.ContainsFunc(p.Completed, func(r Rollout) bool { return r.Hash == c.ContentHash })
		if done && !still[c.ContentHash] {
			p.Exposures = appendUnlogged(p.Exposures, s.Exposures, c.PendingExposures)
		}
	}
	if all {
		p.Exposures = appendUnlogged(p.Exposures, s.Exposures, s.PendingExposures)
	}
	return p
}

// Completed records the rollouts p found complete: the earlier contents they carried as completed
// (their exposures may be due), and, with rollout events off, the rollouts as done (there is
// nothing to report). With events on, Sent records them once reported. It drops the earlier
// contents no target rolls any more that have nothing left to log.
func Completed(s *statsigv1alpha1.StatsigEventsStatus, p Plan, o Options, now time.Time) {
	if s == nil {
		return
	}
	ts := metav1.NewTime(now)
	for _, r := range p.Completed {
		if i := slices.IndexFunc(s.InFlight, func(c statsigv1alpha1.InFlightContent) bool { return c.ContentHash == r.Hash }); i >= 0 && s.InFlight[i].CompletedTime == nil {
			s.InFlight[i].CompletedTime = &ts
		}
		if !o.Rollouts {
			if i := slices.IndexFunc(s.Rollouts, func(x statsigv1alpha1.ReportedRollout) bool { return sameTarget(x, r.Target) }); i >= 0 && s.Rollouts[i].Rolled == r.Hash {
				s.Rollouts[i].Rolled = ""
			}
		}
	}
	tidy(s)
}

// Sent records p as sent at now: its exposures as logged, its rollouts as reported.
func Sent(s *statsigv1alpha1.StatsigEventsStatus, p Plan, now time.Time) {
	ts := metav1.NewTime(now)
	for _, e := range p.Exposures {
		e.Time = &ts
		if i := slices.IndexFunc(s.Exposures, func(x statsigv1alpha1.LoggedExposure) bool { return x.Kind == e.Kind && x.Name == e.Name }); i >= 0 {
			s.Exposures[i] = e
		} else {
			s.Exposures = append(s.Exposures, e)
		}
	}
	for _, t := range p.Rollouts {
		r := statsigv1alpha1.ReportedRollout{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Hash: t.Hash, Time: &ts}
		if i := slices.IndexFunc(s.Rollouts, func(x statsigv1alpha1.ReportedRollout) bool { return sameTarget(x, t.Target) }); i >= 0 {
			if s.Rollouts[i].Rolled != t.Hash {
				r.Rolled = s.Rollouts[i].Rolled // a later rollout, not this one
			}
			s.Rollouts[i] = r
		} else {
			s.Rollouts = append(s.Rollouts, r)
		}
	}
	s.FailedSends = 0
	tidy(s)
}

// Failed records a failed send of p. It reports whether p was dropped: after MaxFailedSends
// failures in a row what was due is recorded as if sent, so that it is not retried for ever.
func Failed(s *statsigv1alpha1.StatsigEventsStatus, p Plan, now time.Time) (dropped bool) {
	s.FailedSends++
	if s.FailedSends < MaxFailedSends {
		return false
	}
	Sent(s, p, now)
	return true
}

// RetryAfter is how long to wait before sending again after n failures: 10s doubling, at most 5m.
func RetryAfter(n int32) time.Duration {
	d := 10 * time.Second << min(max(n-1, 0), 10)
	return min(d, 5*time.Minute)
}

// Prune keeps only the reported rollouts of targets still in the spec, and the earlier contents
// still in flight.
func Prune(s *statsigv1alpha1.StatsigEventsStatus, targets []Target) {
	if s == nil {
		return
	}
	s.Rollouts = slices.DeleteFunc(s.Rollouts, func(r statsigv1alpha1.ReportedRollout) bool {
		return !slices.ContainsFunc(targets, func(t Target) bool { return sameTarget(r, t) })
	})
	tidy(s)
}

// tidy drops what was logged from the pending exposures, and the earlier contents that no target
// is rolling any more and that have nothing left to log (or never completed anywhere: their groups
// never ran in pods).
func tidy(s *statsigv1alpha1.StatsigEventsStatus) {
	s.PendingExposures = appendUnlogged(nil, s.Exposures, s.PendingExposures)
	for i := range s.InFlight {
		s.InFlight[i].PendingExposures = appendUnlogged(nil, s.Exposures, s.InFlight[i].PendingExposures)
	}
	s.InFlight = slices.DeleteFunc(s.InFlight, func(c statsigv1alpha1.InFlightContent) bool {
		if slices.ContainsFunc(s.Rollouts, func(r statsigv1alpha1.ReportedRollout) bool { return r.Rolled == c.ContentHash }) {
			return false
		}
		return c.CompletedTime == nil || len(c.PendingExposures) == 0
	})
	if len(s.InFlight) == 0 {
		s.InFlight = nil
	}
}

// appendUnlogged appends to out the exposures of list that logged does not record yet (same group
// and value), and that out does not hold already.
func appendUnlogged(out, logged, list []statsigv1alpha1.LoggedExposure) []statsigv1alpha1.LoggedExposure {
	same := func(a, b statsigv1alpha1.LoggedExposure) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Group == b.Group && a.ValueHash == b.ValueHash
	}
	for _, e := range list {
		if last, ok := findExposure(logged, e.Kind, e.Name); ok && same(last, e) {
			continue
		}
		if slices.ContainsFunc(out, func(x statsigv1alpha1.LoggedExposure) bool { return same(x, e) }) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func findInFlight(list []statsigv1alpha1.InFlightContent, hash string) (statsigv1alpha1.InFlightContent, bool) {
	if i := slices.IndexFunc(list, func(c statsigv1alpha1.InFlightContent) bool { return c.ContentHash == hash }); i >= 0 {
		return list[i], true
	}
	return statsigv1alpha1.InFlightContent{}, false
}

func sameTarget(r statsigv1alpha1.ReportedRollout, t Target) bool {
	return r.Kind == t.Kind && r.Namespace == t.Namespace && r.Name == t.Name
}

func findRollout(list []statsigv1alpha1.ReportedRollout, t Target) (statsigv1alpha1.ReportedRollout, bool) {
	if i := slices.IndexFunc(list, func(r statsigv1alpha1.ReportedRollout) bool { return sameTarget(r, t) }); i >= 0 {
		return list[i], true
	}
	return statsigv1alpha1.ReportedRollout{}, false
}

func findExposure(list []statsigv1alpha1.LoggedExposure, kind, name string) (statsigv1alpha1.LoggedExposure, bool) {
	if i := slices.IndexFunc(list, func(e statsigv1alpha1.LoggedExposure) bool { return e.Kind == kind && e.Name == name }); i >= 0 {
		return list[i], true
	}
	return statsigv1alpha1.LoggedExposure{}, false
}

// exposures lists what v exposes the user to: each experiment the user is in (a group), and each
// gate Statsig evaluated with a rule. Sorted by kind, then name.
func exposures(v *snapshot.Values, hash string) []statsigv1alpha1.LoggedExposure {
	var out []statsigv1alpha1.LoggedExposure
	for _, n := range sortedKeys(v.Experiments) {
		r := v.Experiments[n]
		if r.GroupName == "" {
			continue // not in the experiment: no group to be exposed to
		}
		out = append(out, statsigv1alpha1.LoggedExposure{Kind: statsigv1alpha1.ExposureExperiment, Name: n, Group: r.GroupName,
			RuleID: r.RuleID, ValueHash: short(r.Value), ContentHash: hash})
	}
	for _, n := range sortedKeys(v.Gates) {
		r := v.Gates[n]
		if r.RuleID == "" {
			continue // Statsig takes a gate exposure only with the rule that decided it
		}
		val := strconv.FormatBool(r.Value)
		out = append(out, statsigv1alpha1.LoggedExposure{Kind: statsigv1alpha1.ExposureGate, Name: n, Group: val,
			RuleID: r.RuleID, ValueHash: short([]byte(val)), ContentHash: hash})
	}
	return out
}

// digests maps "<kind>/<name>" of every entity of v to a short hash of its value.
func digests(v *snapshot.Values) map[string]string {
	out := make(map[string]string, v.Count())
	for n, r := range v.Gates {
		out["gate/"+n] = short([]byte(strconv.FormatBool(r.Value)))
	}
	for n, r := range v.DynamicConfigs {
		out["dynamicConfig/"+n] = short(r.Value)
	}
	for n, r := range v.Experiments {
		out["experiment/"+n] = short(append([]byte(r.GroupName+"\x00"), r.Value...))
	}
	for n, r := range v.Layers {
		out["layer/"+n] = short(r.Value)
	}
	return out
}

// changed lists the keys whose digest differs between before and after, added and removed ones
// included, sorted.
func changed(before, after map[string]string) []string {
	var out []string
	for k, d := range after {
		if before[k] != d {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func short(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
