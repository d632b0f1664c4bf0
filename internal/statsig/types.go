package statsig

import (
	"encoding/json"
	"fmt"
)

// Endpoint names label metrics and key the fake's counters and faults. They are not URL paths.
const (
	EndpointCheckGate          = "check_gate"
	EndpointGetConfig          = "get_config"
	EndpointGetLayer           = "get_layer"
	EndpointLogEvent           = "log_event"
	EndpointLogCustomExposure  = "log_custom_exposure"
	EndpointGetDailyReport     = "get_daily_report"
	EndpointConsoleReports     = "console_reports"
	EndpointListGates          = "list_gates"
	EndpointListDynamicConfigs = "list_dynamic_configs"
	EndpointListExperiments    = "list_experiments"
	EndpointListLayers         = "list_layers"
	EndpointAuditLogs          = "audit_logs"
)

// Endpoints lists every endpoint name, in a stable order.
var Endpoints = []string{
	EndpointCheckGate, EndpointGetConfig, EndpointGetLayer, EndpointLogEvent, EndpointLogCustomExposure,
	EndpointGetDailyReport, EndpointConsoleReports, EndpointListGates, EndpointListDynamicConfigs,
	EndpointListExperiments, EndpointListLayers, EndpointAuditLogs,
}

// User is the user Statsig evaluates for; it marshals exactly as the OpenAPI StatsigUser. Statsig needs
// at least one identifier: UserID or an entry in CustomIDs.
type User struct {
	UserID            string            `json:"userID,omitempty"`
	CustomIDs         map[string]string `json:"customIDs,omitempty"`
	Email             string            `json:"email,omitempty"`
	IP                string            `json:"ip,omitempty"`
	UserAgent         string            `json:"userAgent,omitempty"`
	Country           string            `json:"country,omitempty"`
	Locale            string            `json:"locale,omitempty"`
	AppVersion        string            `json:"appVersion,omitempty"`
	Custom            map[string]any    `json:"custom,omitempty"`
	PrivateAttributes map[string]any    `json:"privateAttributes,omitempty"`
	// StatsigEnvironment is nil when no tier is set, so that the field is left out of the request.
	StatsigEnvironment *Environment `json:"statsigEnvironment,omitempty"`
}

// Environment is StatsigUser.statsigEnvironment.
type Environment struct {
	Tier string `json:"tier,omitempty"`
}

// HasID reports whether the user carries an identifier Statsig accepts.
func (u User) HasID() bool {
	if u.UserID != "" {
		return true
	}
	for _, v := range u.CustomIDs {
		if v != "" {
			return true
		}
	}
	return false
}

// ReadOptions tunes one read (check_gate, get_config, get_layer).
type ReadOptions struct {
	// LogExposures lets Statsig log an exposure for the user. The zero value sends
	// statsigMetadata.exposureLoggingDisabled=true, because an operator that polls would otherwise
	// add an exposure to the experiment's data on every refresh.
	LogExposures bool
}

// GateResult is one gate's evaluation. RuleID and GroupName are "" when Statsig sent null.
type GateResult struct {
	Name      string
	Value     bool
	RuleID    string
	GroupName string
}

// ConfigResult is a dynamic config's or an experiment's evaluation. Value is the JSON object Statsig
// returned ({} for an unknown config, which Statsig does not treat as an error).
type ConfigResult struct {
	Name      string
	Value     json.RawMessage
	RuleID    string
	GroupName string
}

// LayerResult is a layer's evaluation.
type LayerResult struct {
	Name                    string
	Value                   json.RawMessage
	RuleID                  string
	AllocatedExperimentName string
}

// Report points at a daily report. URL is short-lived, on a host other than Statsig's API: download it
// promptly and never send the key there. For the Console source Date is the date asked for; for the
// legacy source it is the date Statsig says the data is for.
type Report struct {
	URL  string
	Date string
}

// EntityKind names a Console list endpoint.
type EntityKind string

// Entity kinds the Console lists.
const (
	EntityGates          EntityKind = "gates"
	EntityDynamicConfigs EntityKind = "dynamic_configs"
	EntityExperiments    EntityKind = "experiments"
	EntityLayers         EntityKind = "layers"
)

// EntityKinds lists every kind, in a stable order.
var EntityKinds = []EntityKind{EntityGates, EntityDynamicConfigs, EntityExperiments, EntityLayers}

// endpoint is the metric/endpoint name of the kind's list call.
func (k EntityKind) endpoint() (string, error) {
	switch k {
	case EntityGates:
		return EndpointListGates, nil
	case EntityDynamicConfigs:
		return EndpointListDynamicConfigs, nil
	case EntityExperiments:
		return EndpointListExperiments, nil
	case EntityLayers:
		return EndpointListLayers, nil
	}
	return "", fmt.Errorf("unknown entity kind %q", string(k))
}

// Endpoint returns the endpoint name (EndpointListGates, ...) of the kind's list call, or "" for an
// unknown kind.
func (k EntityKind) Endpoint() string {
	e, _ := k.endpoint()
	return e
}

// Entity is one item of a Console list. ID is the name the SDK API takes; Name is a display name.
type Entity struct {
	ID          string
	Name        string
	Description string
	// Status is Statsig's status string ("Launched", "active", "archived", ...); "" when not sent.
	Status string
	Tags   []string
	// IsEnabled is nil for kinds that do not report it (experiments, layers).
	IsEnabled *bool
}

// Event is one custom event for log_event (StatsigEvent in the OpenAPI file).
type Event struct {
	EventName string `json:"eventName"`
	// Value is a string or a number; nil leaves it out.
	Value any `json:"value,omitempty"`
	// Time is the event time in Unix milliseconds; 0 lets Statsig use the time it receives the event.
	Time     int64             `json:"time,omitempty"`
	User     User              `json:"user"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// CustomExposure is one entry of log_custom_exposure: an experiment exposure (ExperimentName set) or a
// gate exposure (GateName set, Passes sent). Group or RuleID says what the user was exposed to.
type CustomExposure struct {
	User           User
	ExperimentName string
	GateName       string
	Passes         bool
	Group          string
	RuleID         string
	// Time is in Unix milliseconds; 0 leaves it out.
	Time int64
}

// MarshalJSON writes the OpenAPI ExposureEvent: passes only in the gate form, where false is a value
// Statsig must see, and never in the experiment form, where it would be meaningless.
func (e CustomExposure) MarshalJSON() ([]byte, error) {
	type wire struct {
		User           User   `json:"user"`
		ExperimentName string `json:"experimentName,omitempty"`
		GateName       string `json:"gateName,omitempty"`
		Passes         *bool  `json:"passes,omitempty"`
		Group          string `json:"group,omitempty"`
		RuleID         string `json:"ruleID,omitempty"`
		Time           int64  `json:"time,omitempty"`
	}
	w := wire{User: e.User, ExperimentName: e.ExperimentName, GateName: e.GateName, Group: e.Group,
		RuleID: e.RuleID, Time: e.Time}
	if e.GateName != "" {
		p := e.Passes
		w.Passes = &p
	}
	return json.Marshal(w)
}
