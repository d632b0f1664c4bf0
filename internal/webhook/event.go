package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ChangeEventName is the eventName of a Console change.
const ChangeEventName = "statsig::config_change"

// Event is one verified change: which entity, as Statsig named it.
type Event struct {
	// Type is metadata.type as sent (Gate, Experiment, DynamicConfig, ...).
	Type string
	// Name is metadata.name: an id or a display name (Statsig does not say which).
	Name string
	// Action is metadata.action (created, updated, deleted, archived); may be empty.
	Action string
	// Time is the event's timestamp; zero when it carried none that could be read.
	Time time.Time
}

var errNotBatch = errors.New("body is not a change-notification batch")

// verificationCode returns the code of Statsig's url_verification handshake,
// {"data":{"event":"url_verification","verification_code":"..."}}, or "" for any other body.
func verificationCode(body []byte) string {
	var w struct {
		Data struct {
			Event string `json:"event"`
			Code  string `json:"verification_code"`
		} `json:"data"`
	}
	if !bytes.Contains(body, []byte("url_verification")) || json.Unmarshal(body, &w) != nil {
		return ""
	}
	if w.Data.Event != "url_verification" || w.Data.Code == "" || len(w.Data.Code) > 256 {
		return ""
	}
	return w.Data.Code
}

// parseBatch reads a change-notification batch: {"data":[...]} as the integration sends it, or a
// bare array as Statsig's exposure examples show. Events with another eventName (exposures) are
// skipped; a config change without metadata or name is an error (the batch is malformed).
func parseBatch(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	var items []json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '[':
		if json.Unmarshal(body, &items) != nil {
			return nil, errNotBatch
		}
	case len(body) > 0 && body[0] == '{':
		var w struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(body, &w) != nil || json.Unmarshal(w.Data, &items) != nil || items == nil {
			return nil, errNotBatch
		}
	default:
		return nil, errNotBatch
	}
	var out []Event
	for _, raw := range items {
		var e struct {
			EventName string          `json:"eventName"`
			Timestamp json.RawMessage `json:"timestamp"`
			Metadata  *struct {
				Type   json.RawMessage `json:"type"`
				Name   json.RawMessage `json:"name"`
				Action json.RawMessage `json:"action"`
			} `json:"metadata"`
		}
		if json.Unmarshal(raw, &e) != nil {
			return nil, errNotBatch
		}
		if e.EventName != ChangeEventName {
			continue
		}
		if e.Metadata == nil {
			return nil, errNotBatch
		}
		ev := Event{Type: str(e.Metadata.Type), Name: str(e.Metadata.Name), Action: str(e.Metadata.Action), Time: stamp(e.Timestamp)}
		if ev.Name == "" && ev.Type == "" {
			return nil, errNotBatch
		}
		out = append(out, ev)
	}
	return out, nil
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// stamp reads a timestamp in milliseconds, as a number or a numeric string.
func stamp(raw json.RawMessage) time.Time {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		return time.UnixMilli(int64(f)).UTC()
	}
	return time.Time{}
}
