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
	User User `json:"user"`

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
	Kind string `json:"kind"`
	// name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +required
	Name string `json:"name"`
}

// SnapshotStatus is the status a ConfigSnapshot and a ClusterConfigSnapshot share.
type SnapshotStatus struct {
	CommonStatus `json:",inline"`

	// contentHash is the hex sha256 of the ConfigMap data last written.
	// +optional
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
}

// RolloutStatus is the last rollout of one target.
type RolloutStatus struct {
	// kind of the workload.
	Kind string `json:"kind"`
	// name of the workload.
	Name string `json:"name"`
	// namespace of the workload (a ClusterConfigSnapshot rolls its targets in every namespace it
	// writes to).
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// hash of the content the workload's pods were started from, as far as the operator knows: the
	// hash its pod template was last annotated with, or the content it adopted when it was created
	// after that content was written.
	// +optional
	Hash string `json:"hash,omitempty"`
	// lastRolloutTime is when the workload was last rolled.
	// +optional
	LastRolloutTime *metav1.Time `json:"lastRolloutTime,omitempty"`
	// message says why the last rollout did not happen, when it did not.
	// +optional
	Message string `json:"message,omitempty"`
}
