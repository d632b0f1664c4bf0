package statsig

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// Default base URLs, as Statsig documents them.
const (
	DefaultAPIURL     = "https://api.statsig.com"
	DefaultEventsURL  = "https://events.statsigapi.net"
	DefaultConsoleURL = "https://statsigapi.net"
)

// Options configures the pool and every client in it. Zero fields take the value DefaultOptions
// gives them, so Options{APIURL: ...} is a valid configuration.
type Options struct {
	// APIURL, EventsURL and ConsoleURL are host roots (https://api.statsig.com); the client appends
	// /v1/... and /console/v1/.... They are operator flags, never resource fields: whoever picks the
	// URL receives the key.
	APIURL, EventsURL, ConsoleURL string

	// HTTPClient sends the requests; nil means a client with sane transport timeouts. Redirects are
	// never followed, whatever the client says, because the key header would follow them.
	HTTPClient *http.Client

	// QPS and Burst size the token bucket of each key. Callers wait for a token, honouring their
	// context. A QPS of math.Inf(1) turns the limit off (tests).
	QPS   float64
	Burst int

	// RequestTimeout bounds one attempt, headers and body. Statsig answers in well under a second,
	// so a few seconds already mean it hangs.
	RequestTimeout time.Duration
	// CallTimeout bounds one call, all its attempts and the waits between them included, so that a
	// hung Statsig fails the sync (and a requested sync is echoed as handled) within seconds rather
	// than after MaxAttempts full timeouts. A retry whose wait would run past it is not made.
	// Negative: no bound beyond the attempts.
	CallTimeout time.Duration
	// MaxResponseBytes bounds a response body; a bigger one is ClassInvalidResponse.
	MaxResponseBytes int64
	// MaxAttempts bounds the attempts of one call, the first included.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff between retries; the wait is drawn
	// uniformly from [0, min(MaxBackoff, BaseBackoff*2^retry)) ("full jitter").
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter clamps a 429's Retry-After, and so the time a key is held.
	MaxRetryAfter time.Duration
	// MaxInlineRetryAfter is the longest Retry-After the client waits out itself before retrying.
	// A longer one returns at once and holds the key. Negative: never wait inline.
	MaxInlineRetryAfter time.Duration

	// BatchWindow is the shortest pause in a group's stream of gate checks after which its
	// check_gate calls go: a longer stream waits for a longer pause (see gateBatcher.quiet for that
	// and the other waits). A round of resources comes off the work queue spread over tens of
	// milliseconds, and a refresh has no use for a few milliseconds saved.
	BatchWindow time.Duration

	// MaxListPages caps the pages one ListEntities call reads; a list longer than that is an error,
	// never a silently short list. ListPageSize is the limit asked of each page.
	MaxListPages int
	ListPageSize int

	// Logger receives the client's few log lines when the request's context carries no logger.
	Logger logr.Logger

	// Clock drives backoff, Retry-After waits and holds, the rate limiter and the batch window.
	Clock clock.Clock
	// Jitter returns a random duration in [0, d); nil means math/rand/v2.
	Jitter func(d time.Duration) time.Duration
}

// DefaultOptions returns the production defaults.
func DefaultOptions() Options {
	return Options{
		APIURL:              DefaultAPIURL,
		EventsURL:           DefaultEventsURL,
		ConsoleURL:          DefaultConsoleURL,
		QPS:                 10,
		Burst:               20,
		RequestTimeout:      3 * time.Second,
		CallTimeout:         10 * time.Second,
		MaxResponseBytes:    16 << 20,
		MaxAttempts:         4,
		BaseBackoff:         250 * time.Millisecond,
		MaxBackoff:          10 * time.Second,
		MaxRetryAfter:       15 * time.Minute,
		MaxInlineRetryAfter: 5 * time.Second,
		BatchWindow:         250 * time.Millisecond,
		MaxListPages:        100,
		ListPageSize:        100,
	}
}

// complete fills zero fields from DefaultOptions and checks the rest.
func (o Options) complete() (Options, error) {
	d := DefaultOptions()
	if o.APIURL == "" {
		o.APIURL = d.APIURL
	}
	if o.EventsURL == "" {
		o.EventsURL = d.EventsURL
	}
	if o.ConsoleURL == "" {
		o.ConsoleURL = d.ConsoleURL
	}
	var errs []error
	for _, u := range []*string{&o.APIURL, &o.EventsURL, &o.ConsoleURL} {
		s, err := normalizeBaseURL(*u)
		if err != nil {
			errs = append(errs, err)
		}
		*u = s
	}
	if o.QPS == 0 {
		o.QPS = d.QPS
	}
	if o.Burst == 0 {
		o.Burst = d.Burst
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = d.RequestTimeout
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = d.CallTimeout
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = d.MaxResponseBytes
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.BaseBackoff == 0 {
		o.BaseBackoff = d.BaseBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = d.MaxBackoff
	}
	if o.MaxRetryAfter == 0 {
		o.MaxRetryAfter = d.MaxRetryAfter
	}
	if o.MaxInlineRetryAfter == 0 {
		o.MaxInlineRetryAfter = d.MaxInlineRetryAfter
	}
	if o.BatchWindow == 0 {
		o.BatchWindow = d.BatchWindow
	}
	if o.MaxListPages == 0 {
		o.MaxListPages = d.MaxListPages
	}
	if o.ListPageSize == 0 {
		o.ListPageSize = d.ListPageSize
	}
	if o.QPS < 0 || math.IsNaN(o.QPS) {
		errs = append(errs, fmt.Errorf("QPS must be positive, got %v", o.QPS))
	}
	if o.Burst < 0 || o.RequestTimeout < 0 || o.MaxResponseBytes < 0 || o.MaxAttempts < 0 ||
		o.BaseBackoff < 0 || o.MaxBackoff < 0 || o.MaxRetryAfter < 0 || o.BatchWindow < 0 ||
		o.MaxListPages < 0 || o.ListPageSize < 0 {
		errs = append(errs, errors.New("limits, timeouts and counts must not be negative"))
	}
	if o.HTTPClient == nil {
		o.HTTPClient = defaultHTTPClient()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return o, errors.Join(errs...)
}

func (o Options) limit() rate.Limit {
	if math.IsInf(o.QPS, 1) || o.QPS >= float64(rate.Inf) {
		return rate.Inf
	}
	return rate.Limit(o.QPS)
}

// normalizeBaseURL checks that s is an absolute http(s) URL without query and drops a trailing slash,
// so that joining paths never doubles one.
func normalizeBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return s, fmt.Errorf("base URL %q: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return s, fmt.Errorf("base URL %q: must be an absolute http or https URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return s, fmt.Errorf("base URL %q: must not carry a query, fragment or user info", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	// A backstop only: each attempt's context (RequestTimeout) ends a hung request sooner.
	t.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{Transport: t}
}

// noRedirects keeps the key header from following a redirect to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
