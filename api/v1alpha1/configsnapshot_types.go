package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigSnapshotSpec says what to snapshot, for which user, and where to write it.
// +kubebuilder:validation:XValidation:rule="(has(self.gates) && size(self.gates) > 0) || (has(self.dynamicConfigs) && size(self.dynamicConfigs) > 0) || (has(self.experiments) && size(self.experiments) > 0) || (has(self.layers) && size(self.layers) > 0) || (has(self.discover) && ((has(self.discover.gates) && self.discover.gates) || (has(self.discover.dynamicConfigs) && self.discover.dynamicConfigs) || (has(self.discover.experiments) && self.discover.experiments) || (has(self.discover.layers) && self.discover.layers)))",message="spec must name at least one gate, dynamicConfig, experiment or layer, or turn on discover for one of them"
type ConfigSnapshotSpec struct {
	// secretRef names a Secret in this namespace: serverSecretKey for evaluation, consoleKey for
	// discover. When omitted, the operator's default Secret is used if this namespace is trusted.
	// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="secretRef.namespace is not allowed: a ConfigSnapshot reads its Secret from its own namespace"
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	SnapshotEntities `json:",inline"`

	// target is the ConfigMap the snapshot is written to.
	// +required
	Target SnapshotTarget `json:"target,omitzero"`
}

// SnapshotTarget is the ConfigMap a snapshot writes.
type SnapshotTarget struct {
	// configMapName is the ConfigMap to create and own.
	// +required
	ConfigMapName ConfigMapName `json:"configMapName,omitempty"`

	// format of the data: Files (JSON files and one key per entity, for a volume) or Env
	// (STATSIG_… variables, for envFrom).
	// +kubebuilder:default=Files
	// +optional
	Format SnapshotFormat `json:"format,omitempty"`
}

// ConfigSnapshot writes a Statsig user's gates, dynamic configs, experiments and layers into one
// ConfigMap that pods consume with envFrom or a volume, and rolls workloads when the values change.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=csnap;configsnap,categories=statsig
// +kubebuilder:printcolumn:name="ConfigMap",type=string,JSONPath=`.spec.target.configMapName`
// +kubebuilder:printcolumn:name="Entities",type=integer,JSONPath=`.status.entities`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="RolledOut",type=string,JSONPath=`.status.conditions[?(@.type=="RolledOut")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConfigSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ConfigSnapshotSpec `json:"spec,omitzero"`
	// +optional
	Status SnapshotStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ConfigSnapshotList is a list of ConfigSnapshots.
type ConfigSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfigSnapshot `json:"items"`
}

func init() {
	register(&ConfigSnapshot{}, &ConfigSnapshotList{})
}
