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
	return logged(s, statsig.EndpointLogEvent, "events", func(e *LoggedEvent) *statsig.User { return &e.User })
}

// LoggedExposures lists the exposures of every accepted log_custom_exposure request since the last
// ResetCounts, oldest first, with the shared user filled in as for LoggedEvents.
func (s *Server) LoggedExposures() []LoggedExposure {
	return logged(s, statsig.EndpointLogCustomExposure, "exposures", func(e *LoggedExposure) *statsig.User { return &e.User })
}

// logged decodes the entries under list of every accepted request to endpoint; an entry without
// its own user takes the request's shared one.
func logged[T any](s *Server, endpoint, list string, user func(*T) *statsig.User) []T {
	var out []T
	for _, r := range s.accepted(endpoint) {
		var body map[string]json.RawMessage
		_ = json.Unmarshal(r.Body, &body)
		var shared *statsig.User
		if raw, ok := body["user"]; ok {
			_ = json.Unmarshal(raw, &shared)
		}
		var entries []json.RawMessage
		_ = json.Unmarshal(body[list], &entries)
		for _, raw := range entries {
			var e T
			_ = json.Unmarshal(raw, &e)
			if !hasField(raw, "user") && shared != nil {
				*user(&e) = *shared
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
