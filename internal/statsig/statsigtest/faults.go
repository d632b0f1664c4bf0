package statsigtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the fake injects on an endpoint. Zero fields do nothing; several may combine
// (Latency with anything, RetryAfter with Status).
type Fault struct {
	// Status answers this status instead of the real answer, with a Console-style body
	// {"status": N, "message": ...}. A 401 or 403 message quotes the key sent, as Statsig's does.
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// Header adds headers to the faulted answer (a Location for a redirect, say).
	Header http.Header
	// Body replaces the body sent with Status.
	Body string
	// Latency delays the answer (the wait ends early if the client goes away).
	Latency time.Duration
	// Truncate sends the first half of the real body, with a Content-Length that matches what is
	// sent: a complete HTTP answer carrying broken JSON. On a download the connection is instead
	// aborted halfway.
	Truncate bool
	// Malformed sends an HTML error page with status 200 and a JSON content type.
	Malformed bool
	// WrongTypes sends JSON of the endpoint's shape with wrongly typed fields.
	WrongTypes bool
	// Oversize puts this many bytes of JSON whitespace in front of the real body, streamed without
	// a Content-Length.
	Oversize int64
	// ResetMidBody announces the whole body, sends half of it and resets the connection.
	ResetMidBody bool
	// SlowBody sends half the body, waits this long, then sends the rest.
	SlowBody time.Duration
	// Times is how many requests the fault applies to; 0 means until ClearFaults.
	Times int
}

// Fault injects f into every following request to endpoint (an Endpoint* name of package statsig,
// EndpointDownload, or AllEndpoints), replacing any fault already set there.
func (s *Server) Fault(endpoint string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = &f
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]*Fault{}
}

// takeFault returns the fault for this request, using up one of its Times.
func (s *Server) takeFault(endpoint string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := endpoint
	f, ok := s.faults[key]
	if !ok && endpoint != EndpointDownload {
		key = AllEndpoints
		f, ok = s.faults[key]
	}
	if !ok {
		return Fault{}
	}
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, key)
		}
	}
	return out
}

// writeFaultStatus answers f.Status.
func (s *Server) writeFaultStatus(w http.ResponseWriter, r *http.Request, rec *Recorded, f Fault) {
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	if body == "" {
		msg := http.StatusText(f.Status)
		if f.Status == http.StatusUnauthorized || f.Status == http.StatusForbidden {
			msg = "This endpoint only accepts an active key, but an invalid key was sent. Key: " +
				r.Header.Get("statsig-api-key")
		}
		body = jsonError(f.Status, msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
	s.setStatus(rec, f.Status)
}

// writeAnswer sends a JSON answer, shaped by the body faults of f.
func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, rec *Recorded, f Fault, status int, body []byte) {
	s.setStatus(rec, status)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch {
	case f.Malformed:
		body = []byte("<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>")
	case f.WrongTypes:
		body = wrongTypes(rec.Endpoint)
	case f.Truncate:
		body = body[:len(body)/2]
	}
	if f.ResetMidBody {
		resetMidBody(w, status, h, body)
		return
	}
	if f.Oversize > 0 {
		w.WriteHeader(status)
		pad := bytes.Repeat([]byte(" "), 64<<10)
		for left := f.Oversize; left > 0; left -= int64(len(pad)) {
			if _, err := w.Write(pad[:min(int64(len(pad)), left)]); err != nil {
				return
			}
		}
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if f.SlowBody > 0 {
		half := len(body) / 2
		_, _ = w.Write(body[:half])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if !sleepCtx(r, f.SlowBody) {
			return
		}
		body = body[half:]
	}
	_, _ = w.Write(body)
}

// resetMidBody takes the connection over, announces the whole body, sends half and resets.
func resetMidBody(w http.ResponseWriter, status int, h http.Header, body []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
	abort(conn)
}

// abort closes a connection with a TCP reset rather than a clean close.
func abort(conn net.Conn) {
	type netConner interface{ NetConn() net.Conn }
	raw := conn
	if nc, ok := conn.(netConner); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

// wrongTypes is JSON of each endpoint's shape with a field of the wrong type.
func wrongTypes(endpoint string) []byte {
	switch endpoint {
	case "check_gate":
		return []byte(`{"some_gate":{"name":"some_gate","value":"true","rule_id":7,"group_name":null}}`)
	case "get_config":
		return []byte(`{"name":"some_config","value":"not an object","rule_id":null,"group_name":null}`)
	case "get_layer":
		return []byte(`{"name":"some_layer","value":[1,2],"ruleID":5,"allocatedExperimentName":null}`)
	case "log_event", "log_custom_exposure":
		return []byte(`{"success":"yes"}`)
	case "get_daily_report":
		return []byte(`{"url":42,"date":true}`)
	case "console_reports":
		return []byte(`{"message":"ok","data":[{"url":42}]}`)
	}
	if strings.HasPrefix(endpoint, "list_") {
		return []byte(`{"message":"ok","data":[{"id":12,"name":false}],"pagination":{"nextPage":null}}`)
	}
	return []byte(`{"data":0}`)
}

func jsonError(status int, msg string) string {
	b, _ := json.Marshal(map[string]any{"status": status, "message": msg})
	return string(b)
}
