package statsig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// AuditLogEntry is one entry of the Console audit log, decoded loosely: the OpenAPI schema and its
// examples disagree on types, and the reference marks several fields unconfirmed.
type AuditLogEntry struct {
	// ID is unique per entry: the catch-up cursor.
	ID string
	// Name is the entity the entry is about, as an id or a display name.
	Name string
	// ActionType is e.g. gate_update or config_conditions_update; "" when Statsig sent no string.
	ActionType string
	// Time is when the change was made; zero when the entry carried no time that could be read.
	Time time.Time
}

// AuditLogPage is one page of the audit log, newest first.
type AuditLogPage struct {
	Entries []AuditLogEntry
	More    bool
}

// ListAuditLog reads the Console audit log newest first (sortKey=time, sortOrder=desc), page by
// page, until it meets the entry whose id is stopAt, runs out of pages, or has read maxPages pages.
// It returns the entries newer than stopAt, newest first, and whether stopAt was found (always true
// for an empty stopAt, which reads only the first page: a cursor to start from).
func (c *Client) ListAuditLog(ctx context.Context, stopAt string, maxPages int) ([]AuditLogEntry, bool, error) {
	maxPages = max(maxPages, 1)
	if stopAt == "" {
		maxPages = 1
	}
	var out []AuditLogEntry
	seen := map[string]bool{}
	for page := 1; page <= maxPages; page++ {
		q := url.Values{"sortKey": {"time"}, "sortOrder": {"desc"}, "limit": {strconv.Itoa(c.opts.ListPageSize)}, "page": {strconv.Itoa(page)}}
		resp, err := c.do(ctx, request{endpoint: EndpointAuditLogs, method: http.MethodGet,
			url: c.opts.ConsoleURL + "/console/v1/audit_logs?" + q.Encode(), console: true})
		if err != nil {
			return nil, false, fmt.Errorf("read audit log page %d: %w", page, err)
		}
		p, err := decodeAuditLogPage(resp)
		if err != nil {
			return nil, false, c.invalid(EndpointAuditLogs, err)
		}
		for _, e := range p.Entries {
			if stopAt != "" && e.ID == stopAt {
				return out, true, nil
			}
			if !seen[e.ID] { // entries arriving while paging shift later pages
				seen[e.ID] = true
				out = append(out, e)
			}
		}
		if !p.More || len(p.Entries) == 0 {
			break
		}
	}
	return out, stopAt == "", nil
}

// auditWire is AuditLogDto with every field that matters taken as raw JSON.
type auditWire struct {
	ID         json.RawMessage `json:"id"`
	Name       json.RawMessage `json:"name"`
	ActionType json.RawMessage `json:"actionType"`
	Date       json.RawMessage `json:"date"`
	Time       json.RawMessage `json:"time"`
	Timestamp  json.RawMessage `json:"timestamp"`
}

// decodeAuditLogPage accepts {data: [...], pagination: {...}} as documented, and a bare array.
func decodeAuditLogPage(resp []byte) (AuditLogPage, error) {
	body := bytes.TrimSpace(resp)
	var items []auditWire
	var p AuditLogPage
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return p, fmt.Errorf("decode audit log: %w", err)
		}
		// Without pagination metadata, only an empty page says that the log ended.
		p.More = len(items) > 0
	case isJSONObject(body):
		var w struct {
			Data       json.RawMessage `json:"data"`
			Pagination *struct {
				NextPage json.RawMessage `json:"nextPage"`
			} `json:"pagination"`
		}
		if err := json.Unmarshal(body, &w); err != nil {
			return p, fmt.Errorf("decode audit log: %w", err)
		}
		if len(w.Data) == 0 || json.Unmarshal(w.Data, &items) != nil {
			return p, errors.New("audit log answer without a data array")
		}
		if w.Pagination != nil {
			next := bytes.TrimSpace(w.Pagination.NextPage)
			p.More = len(next) > 0 && !bytes.Equal(next, []byte("null")) && !bytes.Equal(next, []byte(`""`))
		}
	default:
		return p, errors.New("audit log answer is neither an object nor an array")
	}
	for i, it := range items {
		id := looseString(it.ID)
		if id == "" {
			return p, fmt.Errorf("audit log entry %d without an id", i)
		}
		e := AuditLogEntry{ID: id, Name: looseString(it.Name), ActionType: looseString(it.ActionType)}
		e.Time = auditTime(it.Date, it.Time, it.Timestamp)
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// looseString reads a JSON string or number as text; anything else is "".
func looseString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// jsDateSuffix is the parenthesised zone name JavaScript appends to a time string.
var jsDateSuffix = regexp.MustCompile(`\s*\([^)]*\)\s*$`)

// auditTime reads an entry's time: a number of milliseconds (in time or timestamp), a numeric
// string, an RFC 3339 string, or JavaScript's date and time strings ("Thu Jan 01 2026" and
// "00:06:39 GMT+0000 (Coordinated Universal Time)"). Unreadable times are zero.
func auditTime(date, tm, timestamp json.RawMessage) time.Time {
	for _, raw := range []json.RawMessage{timestamp, tm} {
		if ms, ok := millis(raw); ok {
			return time.UnixMilli(ms).UTC()
		}
	}
	ts := strings.TrimSpace(jsDateSuffix.ReplaceAllString(looseString(tm), ""))
	if t, err := time.Parse(time.RFC3339, ts); err == nil {
		return t.UTC()
	}
	d := strings.TrimSpace(looseString(date))
	if d == "" || ts == "" {
		return time.Time{}
	}
	for _, layout := range []string{"Mon Jan 02 2006 15:04:05 GMT-0700", "Mon Jan 02 2006 15:04:05 MST"} {
		if t, err := time.Parse(layout, d+" "+ts); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// millis reads a JSON number or numeric string of epoch milliseconds.
func millis(raw json.RawMessage) (int64, bool) {
	s := looseString(raw)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 1e11 {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 1e11 {
		return int64(f), true
	}
	return 0, false
}
