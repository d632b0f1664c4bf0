package statsig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// consoleAPIVersion pins the Console API's response shapes to the version the contract describes.
const consoleAPIVersion = "20240601"

// Clients is the pool: one *Client per key, shared by every controller that uses the key, so that
// the key's rate limit, hold and batching are shared too.
type Clients struct {
	opts Options

	mu sync.Mutex
	// clients is keyed by the key's SHA-256, so that no map dump or debugger view shows a key.
	clients   map[[sha256.Size]byte]*pooledClient
	lastSweep time.Time
}

// pooledClient is a client and when it was last handed out.
type pooledClient struct {
	*Client
	lastUsed time.Time
}

// clientIdleTTL is how long a client no resource asked for stays in the pool. A rotated or removed
// key then leaves memory; a key used again later gets a new client (its rate limiter and any
// Retry-After hold, which never exceeds MaxRetryAfter, are long over by then).
const clientIdleTTL = time.Hour

// NewClients checks opts, fills its zero fields with defaults and registers the metrics.
func NewClients(opts Options) (*Clients, error) {
	o, err := opts.complete()
	if err != nil {
		return nil, fmt.Errorf("statsig client options: %w", err)
	}
	hc := *o.HTTPClient
	hc.CheckRedirect = noRedirects
	o.HTTPClient = &hc
	registerMetrics()
	return &Clients{opts: o, clients: map[[sha256.Size]byte]*pooledClient{}}, nil
}

// ForKey returns the client for key, creating it on first use. Every call with the same key returns
// the same client. A client for an empty key fails every call with ErrNoKey (ClassUnauthorized).
func (p *Clients) ForKey(key string) *Client {
	h := sha256.Sum256([]byte(key))
	now := p.opts.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now)
	if c, ok := p.clients[h]; ok {
		c.lastUsed = now
		return c.Client
	}
	c := &Client{
		opts:        p.opts,
		key:         newSecretKey(key),
		fingerprint: hex.EncodeToString(h[:4]),
		limiter:     rate.NewLimiter(p.opts.limit(), max(p.opts.Burst, 1)),
	}
	c.batcher = newGateBatcher(c)
	p.clients[h] = &pooledClient{Client: c, lastUsed: now}
	return c
}

// Len is the number of clients in the pool.
func (p *Clients) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

// sweepLocked drops clients idle for longer than clientIdleTTL, looking at most every quarter of
// it. A caller still holding a dropped client can finish with it.
func (p *Clients) sweepLocked(now time.Time) {
	if now.Sub(p.lastSweep) < clientIdleTTL/4 {
		return
	}
	p.lastSweep = now
	for h, c := range p.clients {
		if now.Sub(c.lastUsed) > clientIdleTTL {
			delete(p.clients, h)
		}
	}
}

// secretKey hides the key in a closure: fmt prints a func as an address, whatever the verb and
// however deep, so even printing a dereferenced Client with %+v shows no key.
type secretKey func() string

func newSecretKey(key string) secretKey        { return func() string { return key } }
func (k secretKey) redact(s string) string     { return redactKey(s, k()) }
func (secretKey) String() string               { return RedactedMarker }
func (secretKey) MarshalText() ([]byte, error) { return []byte(RedactedMarker), nil }

// String names the client by a short fingerprint of its key's hash.
func (c *Client) String() string { return "statsig.Client(" + c.fingerprint + ")" }

func (c *Client) logger(ctx context.Context) logr.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l.WithValues("statsigKey", c.fingerprint)
	}
	return c.opts.Logger.WithValues("statsigKey", c.fingerprint)
}

// Client talks to Statsig with one key. It is safe for concurrent use; get one from Clients.ForKey.
type Client struct {
	opts        Options
	key         secretKey
	fingerprint string
	limiter     *rate.Limiter
	batcher     *gateBatcher
	reads       readShare

	mu sync.Mutex
	// holdUntil: after a 429 whose Retry-After is too long to wait inline, no request for this key
	// is sent before this time, so that the key does not dig itself deeper into Statsig's limit.
	holdUntil time.Time
}

// request is one logical call; do sends it, retrying as the status allows.
type request struct {
	endpoint string
	method   string
	url      string
	body     []byte
	console  bool
	header   http.Header
	// tokenTaken: the caller already took the rate-limit token of the first attempt.
	tokenTaken bool
}

// response is one attempt's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

var errTooLarge = errors.New("response body over the size limit")

// errCallTimeout is the cause of a call's context ending at CallTimeout.
var errCallTimeout = errors.New("statsig call timed out")

// cause is the reason ctx ended when it was the call's own timeout, else err.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); errors.Is(c, errCallTimeout) {
		return c
	}
	return err
}

// do sends req until it succeeds, fails in a way that a retry cannot fix, or runs out of attempts.
// It returns the body of a 2xx answer; every failure is an *APIError.
func (c *Client) do(ctx context.Context, req request) ([]byte, error) {
	if c.key() == "" {
		return nil, c.newError(req.endpoint, 0, ClassUnauthorized, ErrNoKey.Error(), ErrNoKey)
	}
	log := c.logger(ctx)
	if c.opts.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.opts.CallTimeout, errCallTimeout)
		defer cancel()
	}
	for attempt := 1; ; attempt++ {
		if err := c.checkHold(req.endpoint); err != nil {
			return nil, err
		}
		if attempt > 1 || !req.tokenTaken {
			if err := c.waitLimiter(ctx); err != nil {
				return nil, c.contextError(req.endpoint, cause(ctx, err))
			}
		}
		// A 429 answered to another caller while this one waited for its token holds it too.
		if err := c.checkHold(req.endpoint); err != nil {
			return nil, err
		}
		if attempt > 1 {
			retriesTotal.WithLabelValues(req.endpoint).Inc()
		}
		resp, err := c.attempt(ctx, req)
		if err == nil && resp.status >= 200 && resp.status < 300 {
			return resp.body, nil
		}
		if ctx.Err() != nil {
			return nil, c.contextError(req.endpoint, cause(ctx, ctx.Err()))
		}
		apiErr, wait, retry := c.judge(log, req, resp, err, attempt)
		if !retry {
			return nil, apiErr
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// The retry could not even start within the call's time (contexts keep real time):
			// report this attempt's failure now.
			apiErr.Message += fmt.Sprintf("; no time left to retry within %s (CallTimeout)", c.opts.CallTimeout)
			return nil, apiErr
		}
		log.V(1).Info("Retrying Statsig request", "endpoint", req.endpoint, "attempt", attempt,
			"wait", wait.String(), "error", apiErr.Error())
		if err := c.sleep(ctx, wait); err != nil {
			return nil, c.contextError(req.endpoint, cause(ctx, err))
		}
	}
}

// judge turns a failed attempt into an error and decides whether, and after how long, to retry.
func (c *Client) judge(log logr.Logger, req request, resp response, err error, attempt int) (*APIError, time.Duration, bool) {
	last := attempt >= c.opts.MaxAttempts
	// backoff draws the jittered wait only when there will be a retry to wait for.
	backoff := func() time.Duration {
		if last {
			return 0
		}
		return c.backoff(attempt)
	}
	switch {
	case errors.Is(err, errTooLarge):
		return c.newError(req.endpoint, resp.status, ClassInvalidResponse,
			fmt.Sprintf("response body larger than %d bytes", c.opts.MaxResponseBytes), nil), 0, false
	case err != nil:
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("no complete answer within %s", c.opts.RequestTimeout)
		}
		return c.newError(req.endpoint, 0, ClassUnavailable, msg, err), backoff(), !last
	}
	msg := decodeErrorMessage(resp.body)
	class := classForStatus(resp.status)
	if class == ClassUnknown {
		// A 2xx was handled by the caller; anything else unexpected is not Statsig's documented
		// behaviour, and not worth retrying.
		class = ClassInvalidResponse
	}
	apiErr := c.newError(req.endpoint, resp.status, class, msg, nil)
	switch class {
	case ClassUnavailable:
		return apiErr, backoff(), !last
	case ClassRateLimited:
		ra, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.opts.Clock.Now())
		if !ok {
			return apiErr, backoff(), !last
		}
		ra = min(ra, c.opts.MaxRetryAfter)
		apiErr.RetryAfter = ra
		if !last && c.opts.MaxInlineRetryAfter >= 0 && ra <= c.opts.MaxInlineRetryAfter {
			return apiErr, ra, true
		}
		c.hold(log, req.endpoint, ra)
		return apiErr, 0, false
	}
	return apiErr, 0, false
}

// attempt sends req once, bounded by RequestTimeout, and reads at most MaxResponseBytes of the body.
func (c *Client) attempt(ctx context.Context, req request) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return response{}, fmt.Errorf("build request: %w", err)
	}
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("statsig-api-key", c.key())
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "statsig-operator")
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.console {
		hreq.Header.Set("STATSIG-API-VERSION", consoleAPIVersion)
	}

	start := c.opts.Clock.Now()
	resp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		c.observe(req.endpoint, codeClassError, start)
		return response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := response{status: resp.StatusCode, header: resp.Header}
	if resp.ContentLength > c.opts.MaxResponseBytes {
		c.observe(req.endpoint, codeClass(resp.StatusCode), start)
		return out, errTooLarge
	}
	out.body, err = io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		c.observe(req.endpoint, codeClassError, start)
		return out, fmt.Errorf("read response body: %w", err)
	}
	c.observe(req.endpoint, codeClass(resp.StatusCode), start)
	if int64(len(out.body)) > c.opts.MaxResponseBytes {
		return out, errTooLarge
	}
	return out, nil
}

func (c *Client) observe(endpoint, class string, start time.Time) {
	requestsTotal.WithLabelValues(endpoint, class).Inc()
	requestDuration.WithLabelValues(endpoint).Observe(c.opts.Clock.Since(start).Seconds())
}

// newError builds an *APIError whose message is redacted of this client's key and of anything
// key-shaped.
func (c *Client) newError(endpoint string, status int, class Class, msg string, cause error) *APIError {
	return &APIError{Endpoint: endpoint, StatusCode: status, Message: c.key.redact(msg), class: class,
		cause: cause}
}

// contextError reports that the caller's context ended the call.
func (c *Client) contextError(endpoint string, err error) *APIError {
	class := ClassUnknown
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errCallTimeout) {
		class = ClassUnavailable
	}
	if errors.Is(err, errCallTimeout) {
		return c.newError(endpoint, 0, class, fmt.Sprintf("no complete answer within %s (CallTimeout)", c.opts.CallTimeout), err)
	}
	return c.newError(endpoint, 0, class, err.Error(), err)
}

// checkHold refuses the request while the key is held after a 429.
func (c *Client) checkHold(endpoint string) *APIError {
	c.mu.Lock()
	until := c.holdUntil
	c.mu.Unlock()
	now := c.opts.Clock.Now()
	if !now.Before(until) {
		return nil
	}
	requestsTotal.WithLabelValues(endpoint, codeClassHeld).Inc()
	e := c.newError(endpoint, http.StatusTooManyRequests, ClassRateLimited,
		"Statsig rate limited this key; no request is sent before its Retry-After expires", nil)
	e.RetryAfter = until.Sub(now)
	return e
}

func (c *Client) hold(log logr.Logger, endpoint string, d time.Duration) {
	if d <= 0 {
		return
	}
	until := c.opts.Clock.Now().Add(d)
	c.mu.Lock()
	extended := until.After(c.holdUntil)
	if extended {
		c.holdUntil = until
	}
	c.mu.Unlock()
	if extended {
		log.Info("Statsig rate limited this key; holding its requests", "endpoint", endpoint,
			"retryAfter", d.String())
	}
}

// waitLimiter takes a token from the key's bucket, waiting on the injected clock.
func (c *Client) waitLimiter(ctx context.Context) error {
	now := c.opts.Clock.Now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused the request")
	}
	d := r.DelayFrom(now)
	rateLimiterWait.Observe(d.Seconds())
	if d <= 0 {
		return nil
	}
	if err := c.sleep(ctx, d); err != nil {
		r.CancelAt(c.opts.Clock.Now())
		return err
	}
	return nil
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the full-jitter wait after the given attempt (1 = after the first).
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.opts.BaseBackoff
	for i := 1; i < attempt && ceiling < c.opts.MaxBackoff; i++ {
		ceiling *= 2
	}
	return c.opts.Jitter(min(ceiling, c.opts.MaxBackoff))
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	// Both forms are bounded here, whatever the caller clamps to later: a date decades away
	// must not overflow or stall anything.
	const longest = 365 * 24 * time.Hour
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs != secs {
			return 0, false
		}
		if secs > float64(longest/time.Second) {
			return longest, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), longest), true
	}
	return 0, false
}
