package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SnapshotFormat is how a snapshot's values are laid out in its ConfigMap.
// +kubebuilder:validation:Enum=Files;Env
type SnapshotFormat string

const (
	// FormatFiles writes aggregate JSON files plus one key per entity, for volume mounts.
	FormatFiles SnapshotFormat = "Files"
	// FormatEnv writes STATSIG_… environment variables, for envFrom.
	FormatEnv SnapshotFormat = "Env"
)

// SnapshotEntities lists what a snapshot evaluates, and the user it evaluates it for.
type SnapshotEntities struct {
	// user is the Statsig user everything is evaluated for.
	// +required
	User User `json:"user,omitzero"`

	// gates to evaluate (feature gate names).
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	Gates []EntityName `json:"gates,omitempty"`

	// dynamicConfigs to evaluate (dynamic config names).
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	DynamicConfigs []EntityName `json:"dynamicConfigs,omitempty"`

	// experiments to evaluate (experiment names).
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	Experiments []EntityName `json:"experiments,omitempty"`

	// layers to evaluate (layer names).
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	Layers []EntityName `json:"layers,omitempty"`

	// discover snapshots every entity of a kind that the Console API lists (needs consoleKey),
	// re-listed on each refresh so that new entities appear and deleted ones leave.
	// +optional
	Discover *Discover `json:"discover,omitempty"`

	// rolloutTargets are workloads in the same namespace as the ConfigMap whose pod template gets
	// the annotation statsig-operator.io/snapshot-hash when, and only when, the content changes
	// (not on the first sync), at most once per target per minute, so that every target runs pods
	// started from the current content. A target created after the content was written is not
	// rolled. RolledOut=True once every target's new pods are available; RolloutPending while a
	// rollout waits for the minute to pass; RolloutInProgress while new pods start. A target that
	// does not exist sets RolledOut=False (TargetNotFound) and leaves Ready alone.
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +optional
	RolloutTargets []RolloutTarget `json:"rolloutTargets,omitempty"`

	RefreshPolicy `json:",inline"`

	// statsigEvents sends what the cluster did to Statsig: with rollouts, one log_event
	// statsig_operator_rollout per completed rollout of a rollout target. Off by default. Sending is
	// best effort: a failure is an Event and a metric, never a failed sync or a blocked rollout.
	// +optional
	StatsigEvents *StatsigEvents `json:"statsigEvents,omitempty"`
}

// StatsigEvents says which events about the cluster a snapshot sends to Statsig.
type StatsigEvents struct {
	// rollouts sends a log_event statsig_operator_rollout, with the spec's user, value
	// <Kind>/<namespace>/<name> of the workload and metadata naming the snapshot, the new content
	// hash and the entities whose values changed, each time a rollout target's rollout completes
	// (its new pods are available).
	// +optional
	Rollouts bool `json:"rollouts,omitempty"`
}

// Discover turns on listing every entity of a kind through the Console API.
type Discover struct {
	// gates: snapshot every feature gate.
	// +optional
	Gates bool `json:"gates,omitempty"`
	// dynamicConfigs: snapshot every dynamic config.
	// +optional
	DynamicConfigs bool `json:"dynamicConfigs,omitempty"`
	// experiments: snapshot every experiment.
	// +optional
	Experiments bool `json:"experiments,omitempty"`
	// layers: snapshot every layer.
	// +optional
	Layers bool `json:"layers,omitempty"`
}

// RolloutTarget is a workload restarted when a snapshot's content changes.
type RolloutTarget struct {
	// kind of the workload.
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	// +required
	Kind string `json:"kind,omitempty"`
	// name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +required
	Name string `json:"name,omitempty"`
}

// SnapshotStatus is the status a ConfigSnapshot and a ClusterConfigSnapshot share.
type SnapshotStatus struct {
	CommonStatus `json:",inline"`

	// contentHash is the hex sha256 of the ConfigMap data last written.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ContentHash string `json:"contentHash,omitempty"`

	// contentChangedTime is when contentHash replaced earlier content. A rollout target created
	// after it is not rolled (its pods read the current content when they started); one created
	// before it is. Unset while the content is the first the snapshot wrote, which rolls nothing.
	// +optional
	ContentChangedTime *metav1.Time `json:"contentChangedTime,omitempty"`

	// contentWrittenTime is when contentHash was first written, the first content included. A
	// rollout target that existed before the first content and already had ready pods (they started
	// without it, through an optional reference) is rolled once; one whose pods were still waiting
	// for the ConfigMap is not, since they read it when they start.
	// +optional
	ContentWrittenTime *metav1.Time `json:"contentWrittenTime,omitempty"`

	// entities is the number of gates, configs, experiments and layers in the snapshot.
	// +optional
	Entities int32 `json:"entities"`

	// rollouts records, per rollout target, the hash it was last rolled to and when.
	// +listType=atomic
	// +optional
	Rollouts []RolloutStatus `json:"rollouts,omitempty"`

	// statsigEvents records what was sent to Statsig about this snapshot's rollouts (exposures
	// logged with spec.logExposures and rolloutTargets, rollout events with spec.statsigEvents), so
	// that nothing is sent twice, restarts and leader changes included. Absent while both are off.
	// +optional
	StatsigEvents *StatsigEventsStatus `json:"statsigEvents,omitempty"`
}

// Exposure kinds of LoggedExposure.
const (
	ExposureExperiment = "Experiment"
	ExposureGate       = "Gate"
)

// StatsigEventsStatus is what a snapshot sent, and has yet to send, to Statsig.
type StatsigEventsStatus struct {
	// contentHash is the content that entities, changed and pendingExposures describe.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ContentHash string `json:"contentHash,omitempty"`
	// entities maps "<kind>/<name>" of every entity of that content to a short hash of its value,
	// to tell which entities the next content changes.
	// +optional
	Entities map[string]string `json:"entities,omitempty"`
	// changed lists the entities ("<kind>/<name>") whose values contentHash changed, named in
	// rollout events.
	// +listType=atomic
	// +kubebuilder:validation:items:MaxLength=1040
	// +optional
	Changed []string `json:"changed,omitempty"`
	// pendingExposures are the experiment groups and gate values that contentHash carries and that
	// were not logged yet: they are logged once the rollout of contentHash has completed.
	// +listType=atomic
	// +optional
	PendingExposures []LoggedExposure `json:"pendingExposures,omitempty"`
	// exposures records, per experiment and gate, the last exposure logged.
	// +listType=atomic
	// +optional
	Exposures []LoggedExposure `json:"exposures,omitempty"`
	// rollouts records, per rollout target, the rollout started and not reported yet, and the
	// content hash of the last rollout sent as an event.
	// +listType=atomic
	// +optional
	Rollouts []ReportedRollout `json:"rollouts,omitempty"`
	// inFlight keeps, per earlier content whose rollout was started on some target before a later
	// content replaced it, what that content changed and the exposures it carries that were not
	// logged yet, so that its rollouts are reported when they complete (the later content's
	// rollout waits for the one-minute limit meanwhile). An entry goes once no target is rolling
	// that content any more and what it carried is logged; at most 20 are kept (the oldest go
	// first). A content replaced before any rollout of it started never appears here: it is not
	// reported as a rollout.
	// +listType=map
	// +listMapKey=contentHash
	// +kubebuilder:validation:MaxItems=20
	// +optional
	InFlight []InFlightContent `json:"inFlight,omitempty"`
	// failedSends counts the consecutive sends that failed; after a few, what was due is dropped
	// (a Warning Event says so) instead of retried for ever.
	// +optional
	FailedSends int32 `json:"failedSends,omitempty"`
}

// InFlightContent is an earlier content of a snapshot whose rollout was started and not reported
// everywhere yet.
type InFlightContent struct {
	// contentHash is the content.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ContentHash string `json:"contentHash"`
	// changed lists the entities ("<kind>/<name>") whose values that content changed, named in its
	// rollout events.
	// +listType=atomic
	// +kubebuilder:validation:items:MaxLength=1040
	// +optional
	Changed []string `json:"changed,omitempty"`
	// pendingExposures are the experiment groups and gate values that content carries and that
	// were not logged yet: they are logged once its rollouts have completed (or were replaced by a
	// later one) on every target rolled to it, provided one of them completed.
	// +listType=atomic
	// +optional
	PendingExposures []LoggedExposure `json:"pendingExposures,omitempty"`
	// completedTime is when a rollout of that content was first seen complete on some target.
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
}

// LoggedExposure is one experiment's group, or one gate's value, as logged (or to be logged) with
// log_custom_exposure.
type LoggedExposure struct {
	// kind is Experiment or Gate.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// name of the experiment or gate (a discovered name is Statsig's, not bounded by spec).
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Name string `json:"name"`
	// group is the experiment group, or "true"/"false" for a gate.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Group string `json:"group,omitempty"`
	// ruleID Statsig evaluated the group or value from.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RuleID string `json:"ruleID,omitempty"`
	// valueHash is a short hash of the value the group or gate had: a group whose parameters
	// change is logged again.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ValueHash string `json:"valueHash,omitempty"`
	// contentHash is the snapshot content that carried it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ContentHash string `json:"contentHash,omitempty"`
	// time the exposure was logged with: when the rollout carrying it completed.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// ReportedRollout is the last completed rollout of one target sent to Statsig, and the rollout
// started since, if any.
type ReportedRollout struct {
	// kind of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// namespace of the workload.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// name of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// hash is the content hash of the rollout last reported.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Hash string `json:"hash,omitempty"`
	// rolled is the content hash of a rollout the operator started and has not reported yet (with
	// rollout events off: not seen complete yet): it is reported once the target's new pods are
	// available, even if a later content replaced it meanwhile; a rollout replaced before its new
	// pods were available did not complete and is not reported.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Rolled string `json:"rolled,omitempty"`
	// time the rollout was seen complete.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// RolloutStatus is the last rollout of one target.
type RolloutStatus struct {
	// kind of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// name of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// namespace of the workload (a ClusterConfigSnapshot rolls its targets in every namespace it
	// writes to).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// hash of the content the workload's pods were started from, as far as the operator knows: the
	// hash its pod template was last annotated with, or the content it adopted when it was created
	// after that content was written.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Hash string `json:"hash,omitempty"`
	// lastRolloutTime is when the workload was last rolled.
	// +optional
	LastRolloutTime *metav1.Time `json:"lastRolloutTime,omitempty"`
	// message says why the last rollout did not happen, when it did not.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message,omitempty"`
}
