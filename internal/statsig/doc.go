// Package statsig is the operator's only door to Statsig: the SDK HTTP API (check_gate, get_config,
// get_layer, log_event, log_custom_exposure, the legacy get_daily_report) and the parts of the Console
// API the operator reads (daily reports and the entity lists).
//
// One *Client exists per Statsig key and is shared by every controller that uses the key, so that the
// key's rate limit, its Retry-After hold and its gate-check batching are all in one place. The pool,
// Clients, hands them out by key.
//
// The key is a value the client carries and sends in the statsig-api-key header; it never appears in an
// error string, a log line or a metric label. Statsig's own error text can quote a key, so every message
// taken from a response goes through Redact before it leaves the package.
//
// Failures are *APIError values. Callers turn them into condition reasons with Classify, and read the
// wait Statsig asked for with RetryAfter.
package statsig
