package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterConfigSnapshotSpec is a ConfigSnapshot for the whole cluster: evaluated once, written to
// every namespace the selector picks.
// +kubebuilder:validation:XValidation:rule="(has(self.gates) && size(self.gates) > 0) || (has(self.dynamicConfigs) && size(self.dynamicConfigs) > 0) || (has(self.experiments) && size(self.experiments) > 0) || (has(self.layers) && size(self.layers) > 0) || (has(self.discover) && ((has(self.discover.gates) && self.discover.gates) || (has(self.discover.dynamicConfigs) && self.discover.dynamicConfigs) || (has(self.discover.experiments) && self.discover.experiments) || (has(self.discover.layers) && self.discover.layers)))",message="spec must name at least one gate, dynamicConfig, experiment or layer, or turn on discover for one of them"
type ClusterConfigSnapshotSpec struct {
	// secretRef names the Secret (name and namespace) holding serverSecretKey and consoleKey.
	// When omitted, the operator's default Secret is used.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	SnapshotEntities `json:",inline"`

	// target is the ConfigMap written into every selected namespace.
	// +required
	Target ClusterSnapshotTarget `json:"target,omitzero"`
}

// ClusterSnapshotTarget is the ConfigMap a ClusterConfigSnapshot writes, and where.
type ClusterSnapshotTarget struct {
	SnapshotTarget `json:",inline"`

	// namespaceSelector picks the namespaces the ConfigMap is written to, including namespaces
	// created later; it is removed from namespaces that stop matching. An empty selector ({})
	// selects every namespace.
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="namespaceSelector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="namespaceSelector.matchExpressions values must be set for In and NotIn, and only for them"
	// +required
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
}

// NamespaceFailure says why a ClusterConfigSnapshot could not be written to a namespace.
type NamespaceFailure struct {
	// name of the namespace.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// message says what failed.
	// +required
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message"`
}

// ClusterConfigSnapshotStatus is the last observed state of a ClusterConfigSnapshot.
type ClusterConfigSnapshotStatus struct {
	SnapshotStatus `json:",inline"`

	// namespaces is the number of namespaces the current snapshot is written to.
	// +optional
	Namespaces int32 `json:"namespaces"`

	// failedNamespaces lists the selected namespaces the snapshot could not be written to.
	// +listType=map
	// +listMapKey=name
	// +optional
	FailedNamespaces []NamespaceFailure `json:"failedNamespaces,omitempty"`
}

// ClusterConfigSnapshot is the cluster-scoped ConfigSnapshot, for cluster-wide feature flag
// snapshots: Statsig is called once per refresh and the ConfigMap fanned out to the namespaces
// that ask for it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ccs;clusterconfigsnap,categories=statsig
// +kubebuilder:printcolumn:name="ConfigMap",type=string,JSONPath=`.spec.target.configMapName`
// +kubebuilder:printcolumn:name="Namespaces",type=integer,JSONPath=`.status.namespaces`
// +kubebuilder:printcolumn:name="Entities",type=integer,JSONPath=`.status.entities`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="RolledOut",type=string,JSONPath=`.status.conditions[?(@.type=="RolledOut")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterConfigSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ClusterConfigSnapshotSpec `json:"spec,omitzero"`
	// +optional
	Status ClusterConfigSnapshotStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterConfigSnapshotList is a list of ClusterConfigSnapshots.
type ClusterConfigSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterConfigSnapshot `json:"items"`
}

func init() {
	register(&ClusterConfigSnapshot{}, &ClusterConfigSnapshotList{})
}
