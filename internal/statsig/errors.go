package statsig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Class groups failures the way the operator's conditions tell them apart.
type Class int

// Classes of failure. The zero value, ClassUnknown, is also what Classify returns for nil.
const (
	ClassUnknown Class = iota
	// ClassUnauthorized: 401 or 403, or no key at all.
	ClassUnauthorized
	// ClassRateLimited: 429, or a request refused locally while the key is held after a 429.
	ClassRateLimited
	// ClassUnavailable: 408, 5xx, network errors, timeouts, resets.
	ClassUnavailable
	// ClassInvalidResponse: a body that cannot be decoded, is truncated, has wrong types or is over
	// the size limit; also an unexpected redirect.
	ClassInvalidResponse
	// ClassBadRequest: 400, or a request the client refused to send because Statsig would reject it.
	// For GetReport and GetLegacyDailyReport this is how "data is not available" arrives.
	ClassBadRequest
	// ClassNotFound: 404 (get_layer for a layer that does not exist).
	ClassNotFound
)

var classNames = map[Class]string{
	ClassUnknown: "Unknown", ClassUnauthorized: "Unauthorized", ClassRateLimited: "RateLimited",
	ClassUnavailable: "Unavailable", ClassInvalidResponse: "InvalidResponse", ClassBadRequest: "BadRequest",
	ClassNotFound: "NotFound",
}

func (c Class) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// APIError is every failure the client returns, whether Statsig answered or not.
type APIError struct {
	// Endpoint is one of the Endpoint* names.
	Endpoint string
	// StatusCode is Statsig's HTTP status; 0 when no answer was read (network error, timeout) or
	// the client refused to send a request Statsig would reject; 429 when the request was refused
	// locally because the key is held after a 429.
	StatusCode int
	// RetryAfter is how long Statsig asked us to wait (429), already clamped to Options.MaxRetryAfter,
	// or the time left on the key's hold when the request was refused locally.
	RetryAfter time.Duration
	// Message is Statsig's message or a description of what went wrong, always redacted.
	Message string

	class Class
	cause error
}

// Error never contains a key: Message is redacted when the error is built.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("statsig ")
	b.WriteString(e.Endpoint)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the underlying cause (a context error, a network error) for errors.Is.
func (e *APIError) Unwrap() error { return e.cause }

// Class is the failure's class; Classify is the way to read it through wrapping.
func (e *APIError) Class() Class { return e.class }

// ErrNoKey is returned by every call of a client made for an empty key.
var ErrNoKey = errors.New("no Statsig key configured")

// Classify tells which class of failure err is, looking through any wrapping.
func Classify(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.class
	}
	switch {
	case errors.Is(err, ErrNoKey):
		return ClassUnauthorized
	case errors.Is(err, context.DeadlineExceeded):
		return ClassUnavailable
	}
	return ClassUnknown
}

// RetryAfter is the wait carried by an *APIError anywhere in err's chain, 0 otherwise.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// classForStatus maps an HTTP status to a class. Redirects are unexpected from an API and are
// refused (a redirect could carry the key to another host), so they count as invalid responses.
func classForStatus(code int) Class {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ClassUnauthorized
	case code == http.StatusTooManyRequests:
		return ClassRateLimited
	case code == http.StatusRequestTimeout || code >= 500:
		return ClassUnavailable
	case code == http.StatusBadRequest:
		return ClassBadRequest
	case code == http.StatusNotFound:
		return ClassNotFound
	case code >= 300 && code < 400:
		return ClassInvalidResponse
	}
	return ClassUnknown
}

// RedactedMarker replaces every key-shaped string.
const RedactedMarker = "[REDACTED]"

// keyPattern matches anything shaped like a Statsig key. It errs towards redacting too much (a word
// such as "client-side" goes too): a mangled message is cheap, a leaked key is not.
var keyPattern = regexp.MustCompile(`(?i)(?:secret|console|client)-[A-Za-z0-9_\-.]+`)

// Redact replaces anything shaped like secret-…, console-… or client-… with RedactedMarker.
func Redact(s string) string {
	return keyPattern.ReplaceAllString(s, RedactedMarker)
}

// redactKey removes a known key from s even if it is not key-shaped (a proxy's key, a truncated
// quote), then applies Redact.
func redactKey(s, key string) string {
	if len(key) >= 4 {
		s = strings.ReplaceAll(s, key, RedactedMarker)
		if i := strings.IndexByte(key, '-'); i >= 0 && len(key)-i-1 >= 8 {
			s = strings.ReplaceAll(s, key[i+1:], RedactedMarker)
		}
	}
	return Redact(s)
}
