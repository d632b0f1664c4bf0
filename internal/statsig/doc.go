// Package statsig is the operator's only door to Statsig: the SDK HTTP API (check_gate, get_config,
// get_layer, log_event, log_custom_exposure, the legacy get_daily_report) and the parts of the Console
// API the operator reads (daily reports and the entity lists).
//
// One *Client exists per Statsig key and is shared by every controller that uses the key, so that the
// key's rate limit, its Retry-After hold and its gate-check batching are all in one place. The pool,
// Clients, hands them out by key. Which kind of key an endpoint needs (secret- for the SDK API and the
// legacy report, console- for the Console API) is the caller's business.
//
// # Failures
//
// Every failure is an *APIError. Callers turn it into a condition reason with Classify and read the
// wait Statsig asked for with RetryAfter. The client retries, with exponential backoff and full
// jitter, up to Options.MaxAttempts attempts: network errors, timeouts, resets, 408 and 5xx, and a 429
// without Retry-After. A 429 whose Retry-After (seconds or HTTP date) is at most
// Options.MaxInlineRetryAfter is waited out and retried; a longer one returns at once, clamped to
// Options.MaxRetryAfter, and holds the key: until it expires every call with the key fails fast with
// ClassRateLimited and nothing is sent. 400, 401, 403, 404 and undecodable answers are never retried.
// A Retry-After on a 5xx is not honoured beyond the backoff, as Statsig's own SDKs do not.
//
// # Keys
//
// The key is a value the client carries and sends in the statsig-api-key header; it never appears in
// an error string, a log line or a metric label. Statsig's own error text can quote a key, so every
// message taken from a response goes through Redact (and the client's own key is removed by value)
// before it leaves the package. Redirects are never followed, because the header would follow them.
package statsig
