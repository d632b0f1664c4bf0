package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyWebhookSigning holds Statsig's webhook signing secret; several secrets on separate
// lines are all accepted, for rotation.
const SecretKeyWebhookSigning = "webhookSigningSecret"

// Condition reasons particular to a WebhookReceiver.
const (
	// ReasonListening: the receiver's path is served and verified events trigger syncs.
	ReasonListening = "Listening"
	// ReasonListenerDisabled: the operator runs with --webhook-bind-address=0.
	ReasonListenerDisabled = "ListenerDisabled"
)

// WebhookReceiverSpec says which Statsig project's webhooks to accept.
type WebhookReceiverSpec struct {
	// secretRef names the Statsig project's Secret in this namespace: webhookSigningSecret (one
	// signing secret per line, all accepted, for rotation) and, for catchUp, consoleKey. Every
	// resource whose credentials come from this Secret is synced when Statsig announces a change
	// it uses.
	// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="secretRef.namespace is not allowed: a WebhookReceiver reads its Secret from its own namespace"
	// +required
	SecretRef LocalSecretReference `json:"secretRef,omitzero"`

	// catchUp reads the Console audit log (needs consoleKey) for changes that no webhook
	// announced, and treats new entries that change evaluation as events.
	// +optional
	CatchUp *CatchUp `json:"catchUp,omitempty"`

	// suspend stops serving the receiver's path (requests then get 404) and stops catchUp.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CatchUp configures reading the Console audit log.
type CatchUp struct {
	// intervalSeconds is how often the audit log is read.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	// +optional
	IntervalSeconds int32 `json:"intervalSeconds,omitempty"`
}

// WebhookReceiverStatus is what the operator reports about a receiver.
type WebhookReceiverStatus struct {
	CommonStatus `json:",inline"`

	// webhookPath is the path to register in Statsig after the receiver's external address:
	// /hook/ and 64 hex characters derived from the signing secret, the namespace and the name. It
	// cannot be guessed and changes when the (first) signing secret does.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	WebhookPath string `json:"webhookPath,omitempty"`

	// lastEventTime is when the last verified event arrived.
	// +optional
	LastEventTime *metav1.Time `json:"lastEventTime,omitempty"`

	// acceptedRequests counts verified requests to this receiver's path since the operator started
	// serving it (written when the status is next updated).
	// +optional
	AcceptedRequests int64 `json:"acceptedRequests,omitempty"`

	// rejectedRequests counts requests to this receiver's path that were refused (bad signature,
	// stale timestamp, malformed or oversized body, wrong method, over budget) since the operator
	// started serving it. A rejection never writes status by itself; the count is written with the
	// next status update.
	// +optional
	RejectedRequests int64 `json:"rejectedRequests,omitempty"`

	// lastCatchUpTime is when the audit log was last read successfully.
	// +optional
	LastCatchUpTime *metav1.Time `json:"lastCatchUpTime,omitempty"`

	// lastAuditLogID is the newest audit log entry catchUp has handled; the next read stops there.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	LastAuditLogID string `json:"lastAuditLogID,omitempty"`
}

// WebhookReceiver turns Statsig's signed config_change webhooks (and, with catchUp, its Console
// audit log) into immediate syncs of the resources that use the changed gate, config, experiment
// or layer.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=whr,categories=statsig
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.status.webhookPath`,priority=1
// +kubebuilder:printcolumn:name="Accepted",type=integer,JSONPath=`.status.acceptedRequests`
// +kubebuilder:printcolumn:name="Rejected",type=integer,JSONPath=`.status.rejectedRequests`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Last Event",type=date,JSONPath=`.status.lastEventTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WebhookReceiver struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec WebhookReceiverSpec `json:"spec,omitzero"`
	// +optional
	Status WebhookReceiverStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WebhookReceiverList is a list of WebhookReceivers.
type WebhookReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookReceiver `json:"items"`
}

func init() {
	register(&WebhookReceiver{}, &WebhookReceiverList{})
}
