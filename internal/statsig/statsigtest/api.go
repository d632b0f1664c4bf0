package statsigtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// route is what the fake knows about a path.
type route struct {
	endpoint string
	method   string
	// keyPrefix is the kind of key the endpoint takes.
	keyPrefix string
	answer    func(s *Server, r *http.Request, body []byte) (int, []byte)
}

var routes = map[string]route{
	"/v1/check_gate":              {statsig.EndpointCheckGate, http.MethodPost, "secret-", (*Server).answerCheckGate},
	"/v1/get_config":              {statsig.EndpointGetConfig, http.MethodPost, "secret-", (*Server).answerGetConfig},
	"/v1/get_layer":               {statsig.EndpointGetLayer, http.MethodPost, "secret-", (*Server).answerGetLayer},
	"/v1/log_event":               {statsig.EndpointLogEvent, http.MethodPost, "secret-", (*Server).answerLogEvent},
	"/v1/log_custom_exposure":     {statsig.EndpointLogCustomExposure, http.MethodPost, "secret-", (*Server).answerLogCustomExposure},
	"/v1/get_daily_report":        {statsig.EndpointGetDailyReport, http.MethodPost, "secret-", (*Server).answerLegacyReport},
	"/console/v1/reports":         {statsig.EndpointConsoleReports, http.MethodGet, "console-", (*Server).answerConsoleReport},
	"/console/v1/gates":           {statsig.EndpointListGates, http.MethodGet, "console-", listAnswer(statsig.EntityGates)},
	"/console/v1/dynamic_configs": {statsig.EndpointListDynamicConfigs, http.MethodGet, "console-", listAnswer(statsig.EntityDynamicConfigs)},
	"/console/v1/experiments":     {statsig.EndpointListExperiments, http.MethodGet, "console-", listAnswer(statsig.EntityExperiments)},
	"/console/v1/layers":          {statsig.EndpointListLayers, http.MethodGet, "console-", listAnswer(statsig.EntityLayers)},
	"/console/v1/audit_logs":      {statsig.EndpointAuditLogs, http.MethodGet, "console-", (*Server).answerAuditLogs},
}

// serveAPI serves every API path: count and record, pause, inject faults, then check the method,
// the key and the body as Statsig would, and answer from the scripted state.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rt, ok := routes[strings.TrimSuffix(r.URL.Path, "/")]
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	drain(r.Body)
	if !ok {
		rec := s.record("unknown", r, body)
		s.violation("request to unknown path %s", r.URL.Path)
		s.writeAnswer(w, r, rec, Fault{}, http.StatusNotFound, []byte(jsonError(404, "Not Found")))
		return
	}
	rec := s.record(rt.endpoint, r, body)
	if ch := s.pauseFor(rt.endpoint); ch != nil {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	f := s.takeFault(rt.endpoint)
	if !sleepCtx(r, f.Latency) {
		return
	}
	if f.Status != 0 {
		s.writeFaultStatus(w, r, rec, f)
		return
	}
	if r.Method != rt.method {
		s.violation("%s: method %s, want %s", rt.endpoint, r.Method, rt.method)
		s.writeAnswer(w, r, rec, Fault{}, http.StatusMethodNotAllowed, []byte(jsonError(405, "Method Not Allowed")))
		return
	}
	if status, msg := s.authorize(r, rt.keyPrefix); status != 0 {
		s.writeAnswer(w, r, rec, Fault{}, status, []byte(jsonError(status, msg)))
		return
	}
	status, out := rt.answer(s, r, body)
	if status == http.StatusBadRequest {
		var e struct{ Message string }
		_ = json.Unmarshal(out, &e)
		if !strings.Contains(e.Message, "not available") {
			s.violation("%s: %s", rt.endpoint, e.Message)
		}
	}
	s.writeAnswer(w, r, rec, f, status, out)
}

// authorize checks the statsig-api-key header (any case) and the key's kind. Its messages quote the
// key, as Statsig's documented 401 does, so that a client's redaction is tested for real.
func (s *Server) authorize(r *http.Request, prefix string) (int, string) {
	key := r.Header.Get("statsig-api-key")
	if key == "" {
		return http.StatusUnauthorized, "Missing STATSIG-API-KEY header"
	}
	s.mu.Lock()
	known := s.keys[key]
	s.mu.Unlock()
	switch {
	case !strings.HasPrefix(key, prefix) && prefix == "console-":
		return http.StatusUnauthorized, "This endpoint only accepts an active CONSOLE key, but an invalid key was sent. Key: " + key
	case !strings.HasPrefix(key, prefix):
		// Statsig also takes client- keys on read endpoints; the fake refuses them because the
		// operator must only ever use a server secret key there.
		return http.StatusUnauthorized, "This endpoint only accepts an active server secret key, but an invalid key was sent. Key: " + key
	case !known:
		return http.StatusUnauthorized, "Invalid key provided. Key: " + key
	}
	return 0, ""
}

func badRequest(format string, args ...any) (int, []byte) {
	return http.StatusBadRequest, []byte(jsonError(http.StatusBadRequest, fmt.Sprintf(format, args...)))
}

func ok(v any) (int, []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		return http.StatusInternalServerError, []byte(jsonError(500, err.Error()))
	}
	return http.StatusOK, b
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-. ]+$`)

func checkName(field string, v any) (string, string) {
	n, isString := v.(string)
	switch {
	case !isString:
		return "", field + " must be a string"
	case len(n) < 2 || len(n) > 100:
		return "", fmt.Sprintf("%s %q must be 2-100 characters", field, n)
	case !namePattern.MatchString(n):
		return "", fmt.Sprintf("%s %q may only contain [a-zA-Z0-9_-. ]", field, n)
	}
	return n, ""
}

// readBody decodes a POST body as an object and checks the user and statsigMetadata fields shared
// by the read endpoints.
func readBody(body []byte, needUser bool) (map[string]json.RawMessage, statsig.User, string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, statsig.User{}, "request body must be a JSON object"
	}
	if md, ok := obj["statsigMetadata"]; ok {
		var m map[string]any
		if json.Unmarshal(md, &m) != nil {
			return nil, statsig.User{}, "statsigMetadata must be an object"
		}
		if v, ok := m["exposureLoggingDisabled"]; ok {
			if _, isBool := v.(bool); !isBool {
				return nil, statsig.User{}, "statsigMetadata.exposureLoggingDisabled must be a boolean"
			}
		}
	}
	raw, has := obj["user"]
	if !has {
		if needUser {
			return nil, statsig.User{}, "user is required"
		}
		return obj, statsig.User{}, ""
	}
	u, msg := checkUser(raw)
	return obj, u, msg
}

// checkUser validates a StatsigUser: field types, custom values (string, number, boolean or array of
// strings) and an identifier. Tiers outside the OpenAPI enum are accepted, as Statsig accepts
// custom environment names.
func checkUser(raw json.RawMessage) (statsig.User, string) {
	var u statsig.User
	if !strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
		return u, "user must be an object"
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return u, "user: " + err.Error()
	}
	if !u.HasID() {
		return u, "user must have a userID or a customIDs entry"
	}
	for field, m := range map[string]map[string]any{"custom": u.Custom, "privateAttributes": u.PrivateAttributes} {
		for k, v := range m {
			switch v := v.(type) {
			case string, float64, bool:
			case []any:
				for _, e := range v {
					if _, isString := e.(string); !isString {
						return u, fmt.Sprintf("user.%s.%s: arrays may only hold strings", field, k)
					}
				}
			default:
				return u, fmt.Sprintf("user.%s.%s must be a string, number, boolean or array of strings", field, k)
			}
		}
	}
	return u, ""
}

type gateWire struct {
	Name      string  `json:"name"`
	Value     bool    `json:"value"`
	RuleID    *string `json:"rule_id"`
	GroupName *string `json:"group_name"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) evalGate(u statsig.User, name string) gateWire {
	s.mu.Lock()
	f := s.gates[name]
	s.mu.Unlock()
	if f == nil {
		return gateWire{Name: name}
	}
	r := f(u)
	return gateWire{Name: name, Value: r.Value, RuleID: nullable(r.RuleID), GroupName: nullable(r.GroupName)}
}

func (s *Server) answerCheckGate(_ *http.Request, body []byte) (int, []byte) {
	obj, u, msg := readBody(body, true)
	if msg != "" {
		return badRequest("%s", msg)
	}
	single, hasSingle := obj["gateName"]
	many, hasMany := obj["gateNames"]
	switch {
	case hasSingle == hasMany:
		return badRequest("exactly one of gateName and gateNames is required")
	case hasSingle:
		var v any
		_ = json.Unmarshal(single, &v)
		name, msg := checkName("gateName", v)
		if msg != "" {
			return badRequest("%s", msg)
		}
		return ok(s.evalGate(u, name))
	}
	var list []any
	if json.Unmarshal(many, &list) != nil {
		return badRequest("gateNames must be an array")
	}
	if len(list) < 1 || len(list) > 100 {
		return badRequest("gateNames must hold 1 to 100 names, got %d", len(list))
	}
	names := make([]string, 0, len(list))
	for _, v := range list {
		name, msg := checkName("gateNames item", v)
		if msg != "" {
			return badRequest("%s", msg)
		}
		names = append(names, name)
	}
	s.mu.Lock()
	shape := s.batchShape
	s.mu.Unlock()
	if shape == BatchArray {
		out := make([]gateWire, 0, len(names))
		for _, n := range names {
			out = append(out, s.evalGate(u, n))
		}
		return ok(out)
	}
	out := make(map[string]gateWire, len(names))
	for _, n := range names {
		out[n] = s.evalGate(u, n)
	}
	return ok(out)
}

func (s *Server) answerGetConfig(_ *http.Request, body []byte) (int, []byte) {
	obj, u, msg := readBody(body, true)
	if msg != "" {
		return badRequest("%s", msg)
	}
	var v any
	_ = json.Unmarshal(obj["configName"], &v)
	name, msg := checkName("configName", v)
	if msg != "" {
		return badRequest("%s", msg)
	}
	s.mu.Lock()
	f := s.configs[name]
	s.mu.Unlock()
	out := map[string]any{"name": name, "value": json.RawMessage("{}"), "group": "", "rule_id": nil, "group_name": nil}
	if f != nil {
		r := f(u)
		val := r.Value
		if len(val) == 0 {
			val = json.RawMessage("{}")
		}
		out["value"], out["rule_id"], out["group_name"], out["group"] = val, nullable(r.RuleID), nullable(r.GroupName), r.RuleID
	}
	return ok(out)
}

func (s *Server) answerGetLayer(_ *http.Request, body []byte) (int, []byte) {
	obj, u, msg := readBody(body, true)
	if msg != "" {
		return badRequest("%s", msg)
	}
	var name string
	if json.Unmarshal(obj["layerName"], &name) != nil || name == "" {
		return badRequest("layerName must be a non-empty string")
	}
	s.mu.Lock()
	f := s.layers[name]
	s.mu.Unlock()
	if f == nil {
		return http.StatusNotFound, []byte(jsonError(http.StatusNotFound, "Layer not found"))
	}
	r := f(u)
	val := r.Value
	if len(val) == 0 {
		val = json.RawMessage("{}")
	}
	return ok(map[string]any{"name": name, "value": val, "ruleID": r.RuleID,
		"allocatedExperimentName": nullable(r.AllocatedExperimentName)})
}

// checkTime validates an event or exposure time: Unix milliseconds or a date-time string.
func checkTime(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case float64:
		return v == float64(int64(v))
	case string:
		_, err := time.Parse(time.RFC3339, v)
		return err == nil
	}
	return false
}

func (s *Server) answerLogEvent(_ *http.Request, body []byte) (int, []byte) {
	obj, _, msg := readBody(body, false)
	if msg != "" {
		return badRequest("%s", msg)
	}
	_, sharedUser := obj["user"]
	var events []map[string]json.RawMessage
	if json.Unmarshal(obj["events"], &events) != nil || len(events) == 0 {
		return badRequest("events must be a non-empty array of objects")
	}
	for i, e := range events {
		var name string
		if json.Unmarshal(e["eventName"], &name) != nil || name == "" {
			return badRequest("events[%d].eventName must be a non-empty string", i)
		}
		var fields map[string]any
		_ = json.Unmarshal(mustJSON(e), &fields)
		switch fields["value"].(type) {
		case nil, string, float64:
		default:
			return badRequest("events[%d].value must be a string or a number", i)
		}
		if !checkTime(fields["time"]) {
			return badRequest("events[%d].time must be Unix milliseconds or a date-time", i)
		}
		if md, has := e["metadata"]; has {
			var m map[string]string
			if json.Unmarshal(md, &m) != nil {
				return badRequest("events[%d].metadata must map strings to strings", i)
			}
		}
		if raw, has := e["user"]; has {
			if _, msg := checkUser(raw); msg != "" {
				return badRequest("events[%d].%s", i, msg)
			}
		} else if !sharedUser {
			return badRequest("events[%d] has no user", i)
		}
	}
	return http.StatusAccepted, []byte(`{"success":true}`)
}

func (s *Server) answerLogCustomExposure(_ *http.Request, body []byte) (int, []byte) {
	obj, _, msg := readBody(body, false)
	if msg != "" {
		return badRequest("%s", msg)
	}
	_, sharedUser := obj["user"]
	var exposures []map[string]any
	if json.Unmarshal(obj["exposures"], &exposures) != nil || len(exposures) == 0 {
		return badRequest("exposures must be a non-empty array of objects")
	}
	for i, e := range exposures {
		exp, isExp := e["experimentName"].(string)
		gate, isGate := e["gateName"].(string)
		group, hasGroup := e["group"].(string)
		_, hasRule := e["ruleID"].(string)
		switch {
		case isExp == isGate || (isExp && exp == "") || (isGate && gate == ""):
			return badRequest("exposures[%d] needs a non-empty experimentName or gateName", i)
		case (!hasGroup || group == "") && !hasRule:
			return badRequest("exposures[%d] needs a group or a ruleID", i)
		case !checkTime(e["time"]):
			return badRequest("exposures[%d].time must be Unix milliseconds or a string", i)
		}
		if isGate {
			if _, isBool := e["passes"].(bool); !isBool {
				return badRequest("exposures[%d].passes must be a boolean", i)
			}
		}
		if u, has := e["user"]; has {
			if _, msg := checkUser(mustJSON(u)); msg != "" {
				return badRequest("exposures[%d].%s", i, msg)
			}
		} else if !sharedUser {
			return badRequest("exposures[%d] has no user", i)
		}
	}
	return http.StatusAccepted, []byte(`{"success":true}`)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

var legacyReportTypes = map[string]bool{"first_exposures": true, "pulse_daily": true, "unit_metrics_daily": true}
var consoleReportTypes = map[string]bool{"first_exposures": true, "pulse_daily": true, "topline_impact_daily": true}

func (s *Server) answerLegacyReport(_ *http.Request, body []byte) (int, []byte) {
	var w struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &w) != nil || !legacyReportTypes[w.Type] {
		return badRequest("type must be one of first_exposures, pulse_daily, unit_metrics_daily")
	}
	s.mu.Lock()
	dates := s.legacy[w.Type]
	latest := ""
	for d := range dates {
		if d > latest {
			latest = d
		}
	}
	var content ReportContent
	if latest != "" {
		content = dates[latest]
	}
	s.mu.Unlock()
	if latest == "" {
		return badRequest("data is not available")
	}
	return ok(map[string]string{"url": s.issueDownload(w.Type, latest, content), "date": latest})
}

func (s *Server) answerConsoleReport(r *http.Request, _ []byte) (int, []byte) {
	q := r.URL.Query()
	typ, date := q.Get("type"), q.Get("date")
	if !consoleReportTypes[typ] {
		return badRequest("Invalid request. type must be one of first_exposures, pulse_daily, topline_impact_daily")
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return badRequest("Invalid request. date must be YYYY-MM-DD")
	}
	s.mu.Lock()
	content, found := s.reports[typ+"/"+date]
	shape := s.reportShape
	s.mu.Unlock()
	if !found {
		return badRequest("Data is not available")
	}
	item := map[string]string{"url": s.issueDownload(typ, date, content)}
	var data any = []any{item}
	if shape == ReportDataObject {
		data = item
	}
	return ok(map[string]any{"message": "Report URL generated successfully", "data": data})
}

// listAnswer serves a Console list page: limit and page as query parameters, pagination metadata
// with nextPage as a path (the client must not follow it) or null on the last page.
func listAnswer(kind statsig.EntityKind) func(*Server, *http.Request, []byte) (int, []byte) {
	return func(s *Server, r *http.Request, _ []byte) (int, []byte) {
		q := r.URL.Query()
		limit, page := 100, 1
		for name, dst := range map[string]*int{"limit": &limit, "page": &page} {
			if v := q.Get(name); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return badRequest("%s must be a positive integer", name)
				}
				*dst = n
			}
		}
		s.mu.Lock()
		all := s.entities[kind]
		if s.pageSize > 0 {
			limit = min(limit, s.pageSize)
		}
		s.mu.Unlock()
		from := min((page-1)*limit, len(all))
		to := min(from+limit, len(all))
		items := make([]map[string]any, 0, to-from)
		for _, e := range all[from:to] {
			items = append(items, entityJSON(kind, e))
		}
		var next, prev any
		if to < len(all) {
			next = fmt.Sprintf("/console/v1/%s?page=%d&limit=%d", kind, page+1, limit)
		}
		if page > 1 {
			prev = fmt.Sprintf("/console/v1/%s?page=%d&limit=%d", kind, page-1, limit)
		}
		return ok(map[string]any{
			"message": "Listed successfully.",
			"data":    items,
			"pagination": map[string]any{"itemsPerPage": limit, "pageNumber": page, "nextPage": next,
				"previousPage": prev, "totalItems": len(all), "all": "/console/v1/" + string(kind)},
		})
	}
}

// entityJSON writes an entity with the fields the OpenAPI file requires of its kind.
func entityJSON(kind statsig.EntityKind, e statsig.Entity) map[string]any {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	m := map[string]any{
		"id": e.ID, "name": e.Name, "description": e.Description, "idType": "userID",
		"lastModifierID": "fake", "lastModifiedTime": 1705439406750, "lastModifierName": "CONSOLE API",
		"lastModifierEmail": nil, "creatorID": "fake", "createdTime": 1705439406615, "creatorName": "CONSOLE API",
		"creatorEmail": nil, "tags": tags, "targetApps": []string{}, "holdoutIDs": []string{},
	}
	enabled := true
	if e.IsEnabled != nil {
		enabled = *e.IsEnabled
	}
	status := e.Status
	switch kind {
	case statsig.EntityGates:
		if status == "" {
			status = "In Progress"
		}
		m["isEnabled"], m["status"], m["rules"], m["checksPerHour"] = enabled, status, []any{}, 0
		m["type"], m["typeReason"] = "PERMANENT", "NONE"
	case statsig.EntityDynamicConfigs:
		if status == "" {
			status = "Enabled"
		}
		m["isEnabled"], m["status"], m["rules"], m["defaultValue"] = enabled, status, []any{}, map[string]any{}
	case statsig.EntityExperiments:
		if status == "" {
			status = "active"
		}
		m["status"], m["hypothesis"], m["groups"], m["allocation"] = status, "", []any{}, 100
		m["primaryMetrics"], m["secondaryMetrics"], m["targetingGateID"] = []any{}, []any{}, ""
		m["bonferroniCorrection"], m["defaultConfidenceInterval"] = false, "95"
		m["decisionReason"], m["layerID"], m["startTime"], m["endTime"], m["decisionTime"] = nil, nil, nil, nil, nil
		m["healthCheckStatus"] = "PASSED"
	case statsig.EntityLayers:
		m["isImplicitLayer"], m["parameters"] = false, []any{}
		if status != "" {
			m["status"] = status
		}
	}
	return m
}
