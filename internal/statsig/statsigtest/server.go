// Package statsigtest is a fake Statsig for tests: an httptest server that serves the SDK HTTP API,
// the events API and the Console API paths the operator uses, as ../shared/statsig describes them,
// plus a second, TLS server for report downloads.
//
// It checks the statsig-api-key header and the key's kind, rejects with 400 what Statsig would reject
// (and lists it in Violations), evaluates gates, configs, experiments and layers from state a test
// sets and changes at will, counts and records every request by endpoint, and injects failures per
// endpoint with Fault.
//
//	srv := statsigtest.New(t)
//	srv.SetGate("new_checkout", true)
//	opts := statsig.Options{APIURL: srv.URL(), EventsURL: srv.URL(), ConsoleURL: srv.URL()}
//	pool, _ := statsig.NewClients(opts)
//	res, err := pool.ForKey(srv.ServerKey).CheckGates(ctx, user, []string{"new_checkout"}, statsig.ReadOptions{})
package statsigtest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// EndpointDownload names report downloads on the download host, for Count, Requests and Fault.
const EndpointDownload = "download"

// AllEndpoints, given to Fault, injects into every API endpoint (not downloads); given to Count, sums
// every API endpoint.
const AllEndpoints = "*"

// BatchShape is how the fake answers a gateNames request.
type BatchShape int

const (
	// BatchMap answers an object keyed by gate name, as the OpenAPI file says (the default).
	BatchMap BatchShape = iota
	// BatchArray answers an array of results, as older documentation showed.
	BatchArray
)

func (b BatchShape) String() string {
	if b == BatchArray {
		return "array"
	}
	return "map"
}

// ReportDataShape is how the fake writes data in a Console reports answer.
type ReportDataShape int

const (
	// ReportDataArray writes data as [{url}], as the OpenAPI example does (the default).
	ReportDataArray ReportDataShape = iota
	// ReportDataObject writes data as {url}, as the OpenAPI schema does.
	ReportDataObject
)

func (r ReportDataShape) String() string {
	if r == ReportDataObject {
		return "object"
	}
	return "array"
}

// Server is the fake. Its methods are safe to call while requests are being served.
type Server struct {
	// ServerKey ("secret-…") is accepted by the SDK and legacy report endpoints, ConsoleKey
	// ("console-…") by the Console endpoints. Both are random per Server.
	ServerKey, ConsoleKey string

	t   testing.TB
	api *httptest.Server
	dl  *httptest.Server

	mu          sync.Mutex
	keys        map[string]bool
	gates       map[string]func(statsig.User) statsig.GateResult
	configs     map[string]func(statsig.User) statsig.ConfigResult
	layers      map[string]func(statsig.User) statsig.LayerResult
	entities    map[statsig.EntityKind][]statsig.Entity
	pageSize    int
	reports     map[string]ReportContent
	legacy      map[string]map[string]ReportContent
	downloads   map[string]ReportContent
	batchShape  BatchShape
	reportShape ReportDataShape
	faults      map[string]*Fault
	pauses      map[string]chan struct{}
	counts      map[string]int
	recorded    map[string][]*Recorded
	keyLeaks    int
	violations  []string
	caFile      string
	audit       []AuditEntry
	auditShape  AuditShape
}

// Option changes where New serves.
type Option func(*config)

type config struct {
	api, download net.Listener
	downloadCert  *tls.Certificate
}

// WithListeners serves the API on api and report downloads on download (TLS, with cert), instead of
// fresh loopback listeners: for clients that cannot reach the test's loopback, such as pods in a
// network namespace the test created. The URLs then name the listeners' addresses, so cert must be
// valid for the download listener's IP. The fake closes both when the test ends.
func WithListeners(api, download net.Listener, cert tls.Certificate) Option {
	return func(c *config) { c.api, c.download, c.downloadCert = api, download, &cert }
}

// New starts a fake and its download host; both close when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		t:          t,
		ServerKey:  "secret-" + randomToken(),
		ConsoleKey: "console-" + randomToken(),
		gates:      map[string]func(statsig.User) statsig.GateResult{},
		configs:    map[string]func(statsig.User) statsig.ConfigResult{},
		layers:     map[string]func(statsig.User) statsig.LayerResult{},
		entities:   map[statsig.EntityKind][]statsig.Entity{},
		reports:    map[string]ReportContent{},
		legacy:     map[string]map[string]ReportContent{},
		downloads:  map[string]ReportContent{},
		faults:     map[string]*Fault{},
		pauses:     map[string]chan struct{}{},
		counts:     map[string]int{},
		recorded:   map[string][]*Recorded{},
	}
	s.keys = map[string]bool{s.ServerKey: true, s.ConsoleKey: true}
	s.api = httptest.NewUnstartedServer(http.HandlerFunc(s.serveAPI))
	s.dl = httptest.NewUnstartedServer(http.HandlerFunc(s.serveDownload))
	if cfg.api != nil {
		_ = s.api.Listener.Close()
		_ = s.dl.Listener.Close()
		s.api.Listener, s.dl.Listener = cfg.api, cfg.download
		s.dl.TLS = &tls.Config{Certificates: []tls.Certificate{*cfg.downloadCert}, MinVersion: tls.VersionTLS12}
	}
	s.api.Start()
	s.dl.StartTLS()
	t.Cleanup(func() {
		s.resumeAll()
		s.api.Close()
		s.dl.Close()
	})
	return s
}

// URL is the base URL serving SDK, events and Console paths: give it as APIURL, EventsURL and
// ConsoleURL.
func (s *Server) URL() string { return s.api.URL }

// Options returns statsig.DefaultOptions pointed at the fake, with the rate limit off.
func (s *Server) Options() statsig.Options {
	o := statsig.DefaultOptions()
	o.APIURL, o.EventsURL, o.ConsoleURL = s.URL(), s.URL(), s.URL()
	o.QPS = math.Inf(1)
	return o
}

// AddKey makes another key valid; its prefix (secret- or console-) decides where it works.
func (s *Server) AddKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
}

// RevokeKey makes a key invalid, as a key deleted in the Statsig console is: requests with it get 401.
func (s *Server) RevokeKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// SetGate makes a gate pass or fail for every user. A passing gate has RuleID "fake_pass_rule"
// and GroupName "Everyone"; a failing one RuleID "default" and no group (null).
func (s *Server) SetGate(name string, value bool) {
	r := statsig.GateResult{Name: name, Value: value, RuleID: "default"}
	if value {
		r.RuleID, r.GroupName = "fake_pass_rule", "Everyone"
	}
	s.SetGateResult(name, r)
}

// SetGateResult answers r for every user (r.Name is replaced by name).
func (s *Server) SetGateResult(name string, r statsig.GateResult) {
	s.SetGateFunc(name, func(statsig.User) statsig.GateResult { return r })
}

// SetGateFunc evaluates a gate per user.
func (s *Server) SetGateFunc(name string, f func(statsig.User) statsig.GateResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gates[name] = f
}

// DeleteGate forgets a gate: it then fails, with null rule and group, as an unknown gate does.
func (s *Server) DeleteGate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.gates, name)
}

// SetConfig sets a dynamic config's value (marshalled to a JSON object) for every user.
func (s *Server) SetConfig(name string, value any) {
	s.SetConfigResult(name, statsig.ConfigResult{Value: s.mustObject(name, value), RuleID: "fake_config_rule"})
}

// SetExperiment puts every user in group of an experiment, with that group's value.
func (s *Server) SetExperiment(name, group string, value any) {
	s.SetConfigResult(name, statsig.ConfigResult{Value: s.mustObject(name, value),
		RuleID: "fake_group_" + strings.ReplaceAll(group, " ", "_"), GroupName: group})
}

// SetConfigResult answers r for a config or experiment, for every user.
func (s *Server) SetConfigResult(name string, r statsig.ConfigResult) {
	s.SetConfigFunc(name, func(statsig.User) statsig.ConfigResult { return r })
}

// SetConfigFunc evaluates a config or experiment per user.
func (s *Server) SetConfigFunc(name string, f func(statsig.User) statsig.ConfigResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs[name] = f
}

// DeleteConfig forgets a config or experiment: it then answers value {} with a null rule, as an
// unknown config does.
func (s *Server) DeleteConfig(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.configs, name)
}

// DeleteExperiment is DeleteConfig: Statsig serves both through get_config.
func (s *Server) DeleteExperiment(name string) { s.DeleteConfig(name) }

// SetLayer sets a layer's value and the experiment it is allocated to ("" for none).
func (s *Server) SetLayer(name string, value any, allocatedExperiment string) {
	r := statsig.LayerResult{Value: s.mustObject(name, value), RuleID: "default",
		AllocatedExperimentName: allocatedExperiment}
	if allocatedExperiment != "" {
		r.RuleID = "fake_layer_rule"
	}
	s.SetLayerResult(name, r)
}

// SetLayerResult answers r for a layer, for every user.
func (s *Server) SetLayerResult(name string, r statsig.LayerResult) {
	s.SetLayerFunc(name, func(statsig.User) statsig.LayerResult { return r })
}

// SetLayerFunc evaluates a layer per user.
func (s *Server) SetLayerFunc(name string, f func(statsig.User) statsig.LayerResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layers[name] = f
}

// DeleteLayer forgets a layer: get_layer then answers 404.
func (s *Server) DeleteLayer(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.layers, name)
}

// SetEntities sets what the Console lists for kind, in order.
func (s *Server) SetEntities(kind statsig.EntityKind, entities []statsig.Entity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities[kind] = slices.Clone(entities)
}

// SetPageSize caps the items of one Console list page whatever limit the client asks for (0: no cap).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetBatchShape chooses how gateNames requests are answered.
func (s *Server) SetBatchShape(shape BatchShape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchShape = shape
}

// SetReportDataShape chooses how the Console reports answer writes data.
func (s *Server) SetReportDataShape(shape ReportDataShape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reportShape = shape
}

// Count is how many requests reached endpoint (faulted and rejected ones included) since the last
// ResetCounts. AllEndpoints sums the API endpoints.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if endpoint == AllEndpoints {
		n := 0
		for e, c := range s.counts {
			if e != EndpointDownload {
				n += c
			}
		}
		return n
	}
	return s.counts[endpoint]
}

// Requests lists the requests to endpoint since the last ResetCounts, oldest first.
func (s *Server) Requests(endpoint string) []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, 0, len(s.recorded[endpoint]))
	for _, r := range s.recorded[endpoint] {
		out = append(out, *r)
	}
	return out
}

// ResetCounts forgets counts and recorded requests (not violations or key leaks).
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.recorded = map[string][]*Recorded{}
}

// Violations lists what a client did that Statsig would have rejected or that must never happen
// (a 400 from body validation, a key sent to the download host), oldest first. A correct client
// leaves it empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// KeyLeaksToDownloadHost counts downloads that carried a Statsig key in any header.
func (s *Server) KeyLeaksToDownloadHost() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyLeaks
}

// Pause holds every request to endpoint, after counting it, until resume is called (or the client
// gives up). It lets a test line up concurrent callers before any answer arrives.
func (s *Server) Pause(endpoint string) (resume func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if old, ok := s.pauses[endpoint]; ok {
		close(old)
	}
	s.pauses[endpoint] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.pauses[endpoint] == ch {
				delete(s.pauses, endpoint)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *Server) resumeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e, ch := range s.pauses {
		close(ch)
		delete(s.pauses, e)
	}
}

// Recorded is one request as the fake saw it.
type Recorded struct {
	Endpoint string
	Method   string
	Path     string
	Query    url.Values
	Header   http.Header
	Body     []byte
	// JSON is the body decoded as an object; nil for a GET or a body that is not an object.
	JSON map[string]any
	// Status is what the fake answered; 0 while the answer is being written or when the client went
	// away first.
	Status int
}

// Key is the statsig-api-key header the request carried.
func (r Recorded) Key() string { return r.Header.Get("statsig-api-key") }

// ExposureLoggingDisabled reports statsigMetadata.exposureLoggingDisabled of the body.
func (r Recorded) ExposureLoggingDisabled() bool {
	md, _ := r.JSON["statsigMetadata"].(map[string]any)
	v, _ := md["exposureLoggingDisabled"].(bool)
	return v
}

// GateNames is the body's gateNames, or its gateName as a one-element list.
func (r Recorded) GateNames() []string {
	if n, ok := r.JSON["gateName"].(string); ok {
		return []string{n}
	}
	raw, _ := r.JSON["gateNames"].([]any)
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if n, ok := v.(string); ok {
			out = append(out, n)
		}
	}
	return out
}

// User is the body's user.
func (r Recorded) User() statsig.User {
	var w struct {
		User statsig.User `json:"user"`
	}
	_ = json.Unmarshal(r.Body, &w)
	return w.User
}

func (s *Server) record(endpoint string, r *http.Request, body []byte) *Recorded {
	rec := &Recorded{Endpoint: endpoint, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		rec.JSON = obj
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[endpoint]++
	s.recorded[endpoint] = append(s.recorded[endpoint], rec)
	return rec
}

func (s *Server) setStatus(rec *Recorded, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Status = status
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func (s *Server) pauseFor(endpoint string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pauses[endpoint]
}

// mustObject marshals a config or layer value, which Statsig always serves as a JSON object.
func (s *Server) mustObject(name string, value any) json.RawMessage {
	if value == nil {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(value)
	if err != nil || len(b) == 0 || b[0] != '{' {
		s.t.Errorf("statsigtest: value of %q must marshal to a JSON object (err=%v)", name, err)
		return json.RawMessage("{}")
	}
	return b
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sleepCtx waits d unless the request ends first; it reports whether the full wait happened.
func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drain reads what is left of a request body, bounded, so that the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20)) }
