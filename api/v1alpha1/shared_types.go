package v1alpha1

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the operator reads and writes.
const (
	// LabelManagedBy marks everything the operator writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "statsig-operator"
	// LabelOwnerKind names the kind of the resource that wrote an object.
	LabelOwnerKind = "statsig-operator.io/owner-kind"
	// LabelOwnerUID holds the UID of the resource that wrote an object.
	LabelOwnerUID = "statsig-operator.io/owner-uid"
	// AnnotationOwner is <Kind>/<namespace>/<name> (<Kind>/<name> for cluster-scoped owners).
	AnnotationOwner = "statsig-operator.io/owner"
	// LabelWebhookLeader is "true" on the operator Pod that holds leadership and so serves the
	// WebhookReceiver listener; the webhook Service selects it.
	LabelWebhookLeader = "statsig-operator.io/webhook-leader"
	// AnnotationContentHash is the hex sha256 over a written ConfigMap's data in sorted key order.
	AnnotationContentHash = "statsig-operator.io/content-hash"
	// AnnotationRequestedAt asks for an immediate sync whenever its value changes.
	AnnotationRequestedAt = "statsig-operator.io/requested-at"
	// AnnotationSnapshotHash is set on rollout targets' pod templates to roll them.
	AnnotationSnapshotHash = "statsig-operator.io/snapshot-hash"
)

// Secret data keys holding Statsig keys.
const (
	// SecretKeyServer holds the server secret key (secret-…) for the SDK HTTP API.
	SecretKeyServer = "serverSecretKey"
	// SecretKeyConsole holds the Console API key (console-…).
	SecretKeyConsole = "consoleKey"
)

// Condition types.
const (
	// ConditionReady summarises whether the resource's last sync succeeded.
	ConditionReady = "Ready"
	// ConditionStale is True while the output is the last good one rather than a fresh one.
	ConditionStale = "Stale"
	// ConditionRolledOut is True when every rollout target runs pods started from the current
	// content.
	ConditionRolledOut = "RolledOut"
	// ConditionReconciling is kstatus's condition: True while a sync or an export is under way and
	// has not finished, or is being retried after a failure that retrying can fix. Its message says
	// what it waits for and since when. Removed otherwise.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is kstatus's condition: True when retrying cannot help until someone changes
	// something (the spec, a Secret, a conflicting object); its reason is the failure's. Removed
	// otherwise.
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	ReasonSynced                = "Synced"
	ReasonSyncFailing           = "SyncFailing"
	ReasonStatsigUnauthorized   = "StatsigUnauthorized"
	ReasonStatsigRateLimited    = "StatsigRateLimited"
	ReasonStatsigUnavailable    = "StatsigUnavailable"
	ReasonStatsigRejected       = "StatsigRejected"
	ReasonInvalidResponse       = "InvalidResponse"
	ReasonSecretNotFound        = "SecretNotFound"
	ReasonCredentialsNotAllowed = "CredentialsNotAllowed"
	ReasonTargetConflict        = "TargetConflict"
	ReasonConfigMapTooLarge     = "ConfigMapTooLarge"
	ReasonDestinationNotAllowed = "DestinationNotAllowed"
	ReasonDestinationError      = "DestinationError"
	ReasonKeyCollision          = "KeyCollision"
	ReasonInvalidSpec           = "InvalidSpec"
	ReasonExportFailed          = "ExportFailed"
	ReasonTargetNotFound        = "TargetNotFound"
	ReasonRolledOut             = "RolledOut"
	ReasonRolloutPending        = "RolloutPending"
	// ReasonRolloutInProgress: a target was set to the current content and its new pods are not
	// all available yet.
	ReasonRolloutInProgress = "RolloutInProgress"
	// ReasonProgressing (Reconciling=True): a sync or an export is running and waits for an answer.
	ReasonProgressing = "Progressing"
	// ReasonProgressingWithRetry (Reconciling=True): the last attempt failed in a way a retry can
	// fix; the next attempt is scheduled.
	ReasonProgressingWithRetry = "ProgressingWithRetry"
)

// StalledReasons are the failure reasons that no retry can fix until someone changes something:
// a failure with one of them sets Stalled=True (kstatus: Failed) instead of Reconciling=True.
var StalledReasons = []string{
	ReasonInvalidSpec, ReasonTargetConflict, ReasonKeyCollision, ReasonStatsigUnauthorized,
	ReasonCredentialsNotAllowed, ReasonDestinationNotAllowed, ReasonSecretNotFound,
}

// LocalSecretReference names a Secret in the resource's own namespace. The Secret's data keys are
// fixed: serverSecretKey and consoleKey.
type LocalSecretReference struct {
	// name of the Secret in the resource's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +required
	Name string `json:"name"`

	// namespace is not allowed: a namespaced resource reads Secrets only from its own namespace.
	// The field exists so that setting it is rejected rather than silently dropped.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SecretReference names a Secret in a given namespace; used by cluster-scoped kinds.
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="name must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +required
	Name string `json:"name"`

	// namespace of the Secret; required for a cluster-scoped resource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="namespace must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
	// +required
	Namespace string `json:"namespace"`
}

// User is the Statsig user that gates, configs, experiments and layers are evaluated for. It
// mirrors Statsig's user object. At least one of userID or customIDs is required.
// +kubebuilder:validation:XValidation:rule="has(self.userID) || (has(self.customIDs) && size(self.customIDs) > 0)",message="user must set userID or at least one customIDs entry"
type User struct {
	// userID is the primary user identifier.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	UserID string `json:"userID,omitempty"`

	// customIDs maps an ID type (for example companyID) to its value.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 128 && size(self[k]) <= 1024)",message="customIDs keys must be at most 128 characters and values at most 1024"
	// +optional
	CustomIDs map[string]string `json:"customIDs,omitempty"`

	// email of the user.
	// +kubebuilder:validation:MaxLength=320
	// +optional
	Email string `json:"email,omitempty"`

	// ip address, for geo targeting.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	IP string `json:"ip,omitempty"`

	// userAgent string, for device and browser targeting.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	UserAgent string `json:"userAgent,omitempty"`

	// country as a 2-letter ISO 3166-1 code.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Country string `json:"country,omitempty"`

	// locale, for example en_US.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Locale string `json:"locale,omitempty"`

	// appVersion of the application being evaluated.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AppVersion string `json:"appVersion,omitempty"`

	// custom attributes for targeting: each value a string, number, boolean or list of strings
	// (other values are reported as InvalidSpec; a CRD schema cannot type a mixed value).
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Custom map[string]AttributeValue `json:"custom,omitempty"`

	// privateAttributes are evaluated but never logged by Statsig; same value types as custom.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	PrivateAttributes map[string]AttributeValue `json:"privateAttributes,omitempty"`

	// statsigEnvironment selects the environment tier the user is evaluated in.
	// +optional
	StatsigEnvironment *StatsigEnvironment `json:"statsigEnvironment,omitempty"`
}

// StatsigEnvironment is the environment a user is evaluated in.
type StatsigEnvironment struct {
	// tier of the environment: production, staging or development.
	// +kubebuilder:validation:Enum=production;staging;development
	// +optional
	Tier string `json:"tier,omitempty"`
}

// AttributeValue is a user attribute value: a string, a number, a boolean or a list of strings.
// +kubebuilder:validation:Schemaless
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=""
type AttributeValue struct {
	// Raw is the value as JSON.
	Raw json.RawMessage `json:"-"`
}

// MarshalJSON writes the raw value; an empty value is null.
func (v AttributeValue) MarshalJSON() ([]byte, error) {
	if len(v.Raw) == 0 {
		return []byte("null"), nil
	}
	return v.Raw, nil
}

// UnmarshalJSON keeps any well-formed JSON value. It does not check the value's type: the API
// server cannot either (the field is schemaless), and a decoder that refused one object would fail
// the whole list it came in, stalling every resource of the kind. Validate checks the type.
func (v *AttributeValue) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("attribute value is not valid JSON")
	}
	v.Raw = append(v.Raw[:0], b...)
	return nil
}

// Validate reports whether the value is a string, a number, a boolean, a list of strings or null.
func (v AttributeValue) Validate() error {
	if len(v.Raw) == 0 {
		return nil
	}
	var x any
	if err := json.Unmarshal(v.Raw, &x); err != nil {
		return err
	}
	switch t := x.(type) {
	case nil, string, float64, bool:
	case []any:
		for _, e := range t {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("attribute list values must be strings")
			}
		}
	default:
		return fmt.Errorf("attribute values must be strings, numbers, booleans or lists of strings")
	}
	return nil
}

// Value decodes the attribute into a plain Go value (string, float64, bool or []any).
func (v AttributeValue) Value() any {
	var x any
	_ = json.Unmarshal(v.Raw, &x)
	return x
}

// RefreshPolicy says how often and how a resource talks to Statsig.
type RefreshPolicy struct {
	// refreshIntervalSeconds is how often the values are fetched again, with a small jitter.
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	// +optional
	RefreshIntervalSeconds int32 `json:"refreshIntervalSeconds,omitempty"`

	// suspend stops every call to Statsig and every write for this resource while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// logExposures lets Statsig log exposures for this user. The default (false) sends
	// exposureLoggingDisabled, so that polling does not pollute experiment data.
	// +optional
	LogExposures bool `json:"logExposures,omitempty"`
}

// CommonStatus is the part of status every kind has.
type CommonStatus struct {
	// observedGeneration is the generation of the spec that was last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready summarises; Stale says the output is the last good one, not a fresh one;
	// Reconciling and Stalled are kstatus's (Reconciling while a sync is under way or retried,
	// Stalled when only a change can fix the failure).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastSyncTime is the time of the last successful sync.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// lastHandledRequestedAt echoes the statsig-operator.io/requested-at annotation value that was
	// last handled, whether that sync succeeded or not.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`
}

// GetConditions returns the conditions.
func (s *CommonStatus) GetConditions() []metav1.Condition { return s.Conditions }

// SetConditions replaces the conditions.
func (s *CommonStatus) SetConditions(c []metav1.Condition) { s.Conditions = c }
