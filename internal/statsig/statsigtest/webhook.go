package statsigtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// AuditEntry is one Console audit log entry the fake serves.
type AuditEntry struct {
	ID         string
	Name       string
	ActionType string
	Time       time.Time
}

// AuditShape is how the fake writes the audit log answer and its times.
type AuditShape int

const (
	// AuditDocumented answers {message, data, pagination} with JavaScript date and time strings, as
	// the reference's example does (the default).
	AuditDocumented AuditShape = iota
	// AuditBareArrayMillis answers a bare array whose time fields are numbers of milliseconds.
	AuditBareArrayMillis
)

func (a AuditShape) String() string {
	if a == AuditBareArrayMillis {
		return "bare-array-millis"
	}
	return "documented"
}

// AddAuditEntry records a change in the audit log; it becomes the newest entry.
func (s *Server) AddAuditEntry(e AuditEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.ID == "" {
		e.ID = randomToken()[:22]
	}
	s.audit = append([]AuditEntry{e}, s.audit...)
}

// SetAuditShape chooses how the audit log is answered.
func (s *Server) SetAuditShape(shape AuditShape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditShape = shape
}

// answerAuditLogs serves GET /console/v1/audit_logs: newest first (sortOrder=desc, the default) or
// oldest first, paged by page and limit.
func (s *Server) answerAuditLogs(r *http.Request, _ []byte) (int, []byte) {
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
	if k := q.Get("sortKey"); k != "" && k != "time" && k != "id" && k != "date" {
		return badRequest("unsupported sortKey %q", k)
	}
	s.mu.Lock()
	all := slices.Clone(s.audit)
	shape := s.auditShape
	if s.pageSize > 0 {
		limit = min(limit, s.pageSize)
	}
	s.mu.Unlock()
	if q.Get("sortOrder") == "asc" {
		slices.Reverse(all)
	}
	from := min((page-1)*limit, len(all))
	to := min(from+limit, len(all))
	items := make([]map[string]any, 0, to-from)
	for _, e := range all[from:to] {
		m := map[string]any{"id": e.ID, "name": e.Name, "changeLog": "changed", "actionType": e.ActionType,
			"updatedBy": "Ada Example", "updatedByUserID": "3kd9QpL0", "modifierEmail": "ada@example.com",
			"changes": map[string]any{}, "tags": []string{}, "targetAppIDs": []string{}}
		if shape == AuditBareArrayMillis {
			m["date"], m["time"] = e.Time.UTC().Format(time.DateOnly), e.Time.UnixMilli()
		} else {
			m["date"] = e.Time.UTC().Format("Mon Jan 02 2006")
			m["time"] = e.Time.UTC().Format("15:04:05") + " GMT+0000 (Coordinated Universal Time)"
		}
		items = append(items, m)
	}
	if shape == AuditBareArrayMillis {
		return ok(items)
	}
	var next any
	if to < len(all) {
		next = fmt.Sprintf("/console/v1/audit_logs?page=%d&limit=%d", page+1, limit)
	}
	return ok(map[string]any{"message": "Audit logs listed successfully.", "data": items,
		"pagination": map[string]any{"itemsPerPage": limit, "pageNumber": page, "totalItems": len(all),
			"nextPage": next, "previousPage": nil, "all": "/console/v1/audit_logs"}})
}

// WebhookEvent is one statsig::config_change event as Statsig's Generic Webhook sends it.
type WebhookEvent struct {
	// Type is metadata.type: Gate, DynamicConfig, Experiment, Layer, Segment, ...
	Type string
	// Name is metadata.name.
	Name string
	// Action is metadata.action: created, updated, deleted, archived; "" leaves it out.
	Action string
	// Time is the event's timestamp; zero uses now.
	Time time.Time
}

// ChangeBody is the body of a config-change webhook carrying events, as {"data":[...]}.
func ChangeBody(events ...WebhookEvent) []byte {
	out := make([]map[string]any, 0, len(events))
	for _, e := range events {
		at := e.Time
		if at.IsZero() {
			at = time.Now()
		}
		md := map[string]any{"type": e.Type, "name": e.Name, "description": "- Updated in a test"}
		if e.Action != "" {
			md["action"] = e.Action
		}
		out = append(out, map[string]any{"user": map[string]any{"name": "Ada Example", "email": "ada@example.com"},
			"timestamp": at.UnixMilli(), "eventName": "statsig::config_change", "metadata": md})
	}
	b, _ := json.Marshal(map[string]any{"data": out})
	return b
}

// SignWebhook is X-Statsig-Signature for a body sent at timestamp (the header value, as sent):
// "v0=" and the hex HMAC-SHA256, keyed with the signing secret, of "v0:<timestamp>:<body>".
func SignWebhook(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook is one webhook request to send.
type Webhook struct {
	// URL is the receiver's address and path.
	URL string
	// Secret signs the request; "" sends no signature header.
	Secret string
	// At is the X-Statsig-Request-Timestamp; zero uses now.
	At time.Time
	// Body is sent as is.
	Body []byte
	// Method defaults to POST.
	Method string
}

// SendWebhook sends a request as Statsig's Generic Webhook does and returns the status code and
// the answer's body. The fake does not count it: it is traffic to the operator, not from it.
func SendWebhook(ctx context.Context, hc *http.Client, w Webhook) (int, []byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	at := w.At
	if at.IsZero() {
		at = time.Now()
	}
	method := w.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, w.URL, bytes.NewReader(w.Body))
	if err != nil {
		return 0, nil, err
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Statsig-Request-Timestamp", ts)
	if w.Secret != "" {
		req.Header.Set("X-Statsig-Signature", SignWebhook(w.Secret, ts, w.Body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(http.MaxBytesReader(nil, resp.Body, 1<<20))
	return resp.StatusCode, buf.Bytes(), nil
}
