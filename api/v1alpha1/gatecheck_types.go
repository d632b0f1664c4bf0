package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GateCheckSpec says which gates to check for which user, and where to write the results.
type GateCheckSpec struct {
	// secretRef names a Secret in this namespace whose serverSecretKey is used to call Statsig.
	// When omitted, the operator's default Secret is used if this namespace is trusted with it.
	// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="secretRef.namespace is not allowed: a GateCheck reads its Secret from its own namespace"
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// user is the Statsig user the gates are evaluated for.
	// +required
	User User `json:"user,omitzero"`

	// gates to check: 1 to 100 distinct feature gate names.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +required
	Gates []EntityName `json:"gates,omitempty"`

	RefreshPolicy `json:",inline"`

	// target optionally writes the results to a ConfigMap in this namespace.
	// +optional
	Target *GateCheckTarget `json:"target,omitempty"`
}

// GateCheckTarget is the ConfigMap a GateCheck writes: one key per gate, "true" or "false".
type GateCheckTarget struct {
	// configMapName is the ConfigMap to create and own. An existing ConfigMap that the operator did
	// not create is never taken over (TargetConflict).
	// +required
	ConfigMapName ConfigMapName `json:"configMapName,omitempty"`
}

// GateResult is the value of one gate for the user.
type GateResult struct {
	// name of the gate.
	// +required
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name"`
	// value is true when the gate passes for the user.
	// +required
	Value bool `json:"value"`
	// ruleID is the rule that decided the value; omitted when Statsig returns none.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RuleID string `json:"ruleID,omitempty"`
	// groupName of that rule; omitted when Statsig returns none.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	GroupName string `json:"groupName,omitempty"`
}

// GateCheckStatus is the last observed state of a GateCheck.
type GateCheckStatus struct {
	CommonStatus `json:",inline"`

	// results holds one entry per gate, in the order of spec.gates.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Results []GateResult `json:"results,omitempty"`

	// passing is the number of gates passing out of the total, for example "1/2".
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Passing string `json:"passing,omitempty"`
}

// GateCheck checks up to 100 Statsig feature gates for one user, keeps their values in its status
// and optionally in a ConfigMap, and refreshes them on a period.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gc;gatecheck,categories=statsig
// +kubebuilder:printcolumn:name="Passing",type=string,JSONPath=`.status.passing`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GateCheck struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec GateCheckSpec `json:"spec,omitzero"`
	// +optional
	Status GateCheckStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// GateCheckList is a list of GateChecks.
type GateCheckList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GateCheck `json:"items"`
}

func init() {
	register(&GateCheck{}, &GateCheckList{})
}
