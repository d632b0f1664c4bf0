package statsigtest

import (
	"encoding/json"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// LoggedEvent is one event of a log_event request the fake accepted, as Statsig would store it.
type LoggedEvent struct {
	EventName string            `json:"eventName"`
	Value     any               `json:"value"`
	Time      any               `json:"time"`
	User      statsig.User      `json:"user"`
	Metadata  map[string]string `json:"metadata"`
}

// LoggedExposure is one entry of a log_custom_exposure request the fake accepted.
type LoggedExposure struct {
	ExperimentName string       `json:"experimentName"`
	GateName       string       `json:"gateName"`
	Passes         *bool        `json:"passes"`
	Group          string       `json:"group"`
	RuleID         string       `json:"ruleID"`
	Time           any          `json:"time"`
	User           statsig.User `json:"user"`
}

// LoggedEvents lists the events of every accepted log_event request since the last ResetCounts,
// oldest first. An event without its own user takes the request's shared one, as Statsig does.
func (s *Server) LoggedEvents() []LoggedEvent {
	var out []LoggedEvent
	for _, r := range s.accepted(statsig.EndpointLogEvent) {
		var body struct {
			Events []json.RawMessage `json:"events"`
			User   *statsig.User     `json:"user"`
		}
		_ = json.Unmarshal(r.Body, &body)
		for _, raw := range body.Events {
			var e LoggedEvent
			_ = json.Unmarshal(raw, &e)
			if !hasField(raw, "user") && body.User != nil {
				e.User = *body.User
			}
			out = append(out, e)
		}
	}
	return out
}

// LoggedExposures lists the exposures of every accepted log_custom_exposure request since the last
// ResetCounts, oldest first, with the shared user filled in as for LoggedEvents.
func (s *Server) LoggedExposures() []LoggedExposure {
	var out []LoggedExposure
	for _, r := range s.accepted(statsig.EndpointLogCustomExposure) {
		var body struct {
			Exposures []json.RawMessage `json:"exposures"`
			User      *statsig.User     `json:"user"`
		}
		_ = json.Unmarshal(r.Body, &body)
		for _, raw := range body.Exposures {
			var e LoggedExposure
			_ = json.Unmarshal(raw, &e)
			if !hasField(raw, "user") && body.User != nil {
				e.User = *body.User
			}
			out = append(out, e)
		}
	}
	return out
}

// accepted lists the requests to endpoint the fake answered with a 2xx.
func (s *Server) accepted(endpoint string) []Recorded {
	var out []Recorded
	for _, r := range s.Requests(endpoint) {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

func hasField(raw json.RawMessage, name string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	_, ok := m[name]
	return ok
}
