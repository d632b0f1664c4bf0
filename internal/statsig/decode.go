package statsig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The decoders below check types strictly (a wrong type is ClassInvalidResponse, never a silent
// zero) but tolerate what the README says real servers do: both batched check_gate shapes, both
// report data shapes, nulls where the OpenAPI file allows them.

// gateWire is CheckGateResponse. Pointers tell a missing field from a zero one.
type gateWire struct {
	Name      *string `json:"name"`
	Value     *bool   `json:"value"`
	RuleID    *string `json:"rule_id"`
	GroupName *string `json:"group_name"`
}

func (w gateWire) result(fallbackName string) (GateResult, error) {
	if w.Value == nil {
		return GateResult{}, errors.New("gate result without a boolean value")
	}
	r := GateResult{Name: deref(w.Name), Value: *w.Value, RuleID: deref(w.RuleID), GroupName: deref(w.GroupName)}
	if fallbackName != "" {
		// The map key is what the batch asked for; an inner name that differs would be Statsig's
		// bug, and the key is the one the caller can match.
		r.Name = fallbackName
	}
	if r.Name == "" {
		return GateResult{}, errors.New("gate result without a name")
	}
	return r, nil
}

// decodeCheckGate reads a check_gate answer in any of its documented shapes: a single
// CheckGateResponse, an object keyed by gate name, or an array of CheckGateResponse.
func decodeCheckGate(body []byte) (map[string]GateResult, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	out := map[string]GateResult{}
	switch body[0] {
	case '[':
		var items []gateWire
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("decode check_gate array: %w", err)
		}
		for i, it := range items {
			r, err := it.result("")
			if err != nil {
				return nil, fmt.Errorf("check_gate item %d: %w", i, err)
			}
			out[r.Name] = r
		}
		return out, nil
	case '{':
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, fmt.Errorf("decode check_gate object: %w", err)
		}
		if v, ok := fields["value"]; ok && isJSONBool(v) {
			var w gateWire
			if err := json.Unmarshal(body, &w); err != nil {
				return nil, fmt.Errorf("decode check_gate result: %w", err)
			}
			r, err := w.result("")
			if err != nil {
				return nil, err
			}
			out[r.Name] = r
			return out, nil
		}
		for name, raw := range fields {
			if name == "" {
				return nil, errors.New("check_gate result keyed by an empty name")
			}
			var w gateWire
			if err := json.Unmarshal(raw, &w); err != nil {
				return nil, fmt.Errorf("decode check_gate result for %q: %w", name, err)
			}
			if !isJSONObject(raw) {
				return nil, fmt.Errorf("check_gate result for %q is not an object", name)
			}
			r, err := w.result(name)
			if err != nil {
				return nil, fmt.Errorf("check_gate result for %q: %w", name, err)
			}
			out[name] = r
		}
		return out, nil
	}
	return nil, errors.New("check_gate answer is neither a JSON object nor an array")
}

// decodeConfig reads a GetConfigResponse. Statsig answers an unknown config with value {} and
// rule_id null; a null value is taken the same way.
func decodeConfig(body []byte) (ConfigResult, error) {
	var w struct {
		Name      *string         `json:"name"`
		Value     json.RawMessage `json:"value"`
		RuleID    *string         `json:"rule_id"`
		GroupName *string         `json:"group_name"`
		Group     *string         `json:"group"`
	}
	if err := decodeObject(body, &w); err != nil {
		return ConfigResult{}, fmt.Errorf("decode get_config: %w", err)
	}
	v, err := objectValue(w.Value)
	if err != nil {
		return ConfigResult{}, fmt.Errorf("get_config: %w", err)
	}
	return ConfigResult{Name: deref(w.Name), Value: v, RuleID: deref(w.RuleID), GroupName: deref(w.GroupName)}, nil
}

// decodeLayer reads a GetLayerResponse.
func decodeLayer(body []byte) (LayerResult, error) {
	var w struct {
		Name                    *string         `json:"name"`
		Value                   json.RawMessage `json:"value"`
		RuleID                  *string         `json:"ruleID"`
		AllocatedExperimentName *string         `json:"allocatedExperimentName"`
	}
	if err := decodeObject(body, &w); err != nil {
		return LayerResult{}, fmt.Errorf("decode get_layer: %w", err)
	}
	v, err := objectValue(w.Value)
	if err != nil {
		return LayerResult{}, fmt.Errorf("get_layer: %w", err)
	}
	return LayerResult{Name: deref(w.Name), Value: v, RuleID: deref(w.RuleID),
		AllocatedExperimentName: deref(w.AllocatedExperimentName)}, nil
}

// errNotAccepted: a 2xx log answer that says success=false.
var errNotAccepted = errors.New("statsig answered success=false")

// decodeLogResponse reads LogEventResponse. An empty 2xx body counts as accepted: the status
// already says so, and nothing in the contract promises a body.
func decodeLogResponse(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var w struct {
		Success *bool `json:"success"`
	}
	if err := decodeObject(body, &w); err != nil {
		return fmt.Errorf("decode log answer: %w", err)
	}
	if w.Success != nil && !*w.Success {
		return errNotAccepted
	}
	return nil
}

type reportWire struct {
	URL *string `json:"url"`
}

// decodeConsoleReport reads the Console reports answer {message, data} where data is {url} or
// [{url}], and returns the URL.
func decodeConsoleReport(body []byte) (string, error) {
	var w struct {
		Data json.RawMessage `json:"data"`
	}
	if err := decodeObject(body, &w); err != nil {
		return "", fmt.Errorf("decode reports answer: %w", err)
	}
	data := bytes.TrimSpace(w.Data)
	var items []reportWire
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		return "", errors.New("reports answer without data")
	case data[0] == '{':
		var one reportWire
		if err := json.Unmarshal(data, &one); err != nil {
			return "", fmt.Errorf("decode reports data: %w", err)
		}
		items = []reportWire{one}
	case data[0] == '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return "", fmt.Errorf("decode reports data: %w", err)
		}
	default:
		return "", errors.New("reports data is neither an object nor an array")
	}
	for _, it := range items {
		if u := deref(it.URL); u != "" {
			return u, nil
		}
	}
	return "", errors.New("reports answer without a URL")
}

// decodeLegacyReport reads the get_daily_report answer {url, date}. The date must be a calendar
// date, because it names the export; a timestamp is cut to its date.
func decodeLegacyReport(body []byte) (Report, error) {
	var w struct {
		URL  *string `json:"url"`
		Date *string `json:"date"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Report{}, fmt.Errorf("decode get_daily_report: %w", err)
	}
	if deref(w.URL) == "" {
		return Report{}, errors.New("get_daily_report answer without a URL")
	}
	date, err := normalizeDate(deref(w.Date))
	if err != nil {
		return Report{}, fmt.Errorf("get_daily_report: %w", err)
	}
	return Report{URL: *w.URL, Date: date}, nil
}

func normalizeDate(s string) (string, error) {
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return s, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format(time.DateOnly), nil
	}
	return "", fmt.Errorf("date %q is not YYYY-MM-DD", truncate(s, 40))
}

type entityWire struct {
	ID          *string  `json:"id"`
	Name        *string  `json:"name"`
	Description *string  `json:"description"`
	Status      *string  `json:"status"`
	Tags        []string `json:"tags"`
	IsEnabled   *bool    `json:"isEnabled"`
}

// decodeListPage reads one Console list page. more is true while pagination.nextPage is set; its
// value is ignored because its format varies (the caller counts pages itself).
func decodeListPage(body []byte) (entities []Entity, more bool, err error) {
	var w struct {
		Data       *[]entityWire `json:"data"`
		Pagination *struct {
			NextPage json.RawMessage `json:"nextPage"`
		} `json:"pagination"`
	}
	if err := decodeObject(body, &w); err != nil {
		return nil, false, fmt.Errorf("decode list page: %w", err)
	}
	if w.Data == nil {
		return nil, false, errors.New("list page without data")
	}
	for i, it := range *w.Data {
		if deref(it.ID) == "" {
			return nil, false, fmt.Errorf("list item %d without an id", i)
		}
		entities = append(entities, Entity{ID: *it.ID, Name: deref(it.Name), Description: deref(it.Description),
			Status: deref(it.Status), Tags: it.Tags, IsEnabled: it.IsEnabled})
	}
	if w.Pagination != nil {
		next := bytes.TrimSpace(w.Pagination.NextPage)
		more = len(next) > 0 && !bytes.Equal(next, []byte("null")) && !bytes.Equal(next, []byte(`""`))
	}
	return entities, more, nil
}

// decodeErrorMessage pulls Statsig's message out of an error body: Console errors are
// {status, message}; anything else is shown as (shortened, printable) text. The caller redacts it.
func decodeErrorMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var w struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &w) == nil {
		for _, raw := range []json.RawMessage{w.Message, w.Error} {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" {
				return truncate(printable(s), 300)
			}
		}
	}
	return truncate(printable(string(body)), 300)
}

// decodeObject unmarshals body into v, insisting that body is a JSON object: json.Unmarshal would
// accept null into a struct and leave it empty.
func decodeObject(body []byte, v any) error {
	if !isJSONObject(body) {
		return errors.New("answer is not a JSON object")
	}
	return json.Unmarshal(body, v)
}

// objectValue checks that a config or layer value is a JSON object, copying it; null becomes {}.
func objectValue(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, errors.New("answer without a value")
	case bytes.Equal(raw, []byte("null")):
		return json.RawMessage("{}"), nil
	case raw[0] != '{':
		return nil, errors.New("value is not a JSON object")
	}
	return append(json.RawMessage(nil), raw...), nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

func isJSONBool(b []byte) bool {
	b = bytes.TrimSpace(b)
	return bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false"))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func printable(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) || r == ' ' {
			return r
		}
		return ' '
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
