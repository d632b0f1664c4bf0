package statsig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// namePattern is the OpenAPI file's pattern for gate and config names; names are 2 to 100 characters.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-. ]{2,100}$`)

// ValidName reports whether Statsig accepts name as a gate or config name.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// readMetadata is statsigMetadata for a read: exposure logging is off unless asked for.
func readMetadata(o ReadOptions) map[string]any {
	return map[string]any{"exposureLoggingDisabled": !o.LogExposures}
}

// badRequest is a request refused locally because Statsig would answer 400.
func (c *Client) badRequest(endpoint, msg string) *APIError {
	return c.newError(endpoint, 0, ClassBadRequest, msg, nil)
}

func (c *Client) invalid(endpoint string, err error) *APIError {
	return c.newError(endpoint, http.StatusOK, ClassInvalidResponse, "invalid response: "+err.Error(), err)
}

func (c *Client) checkUser(endpoint string, u User) error {
	if !u.HasID() {
		return c.badRequest(endpoint, "user needs a userID or a customIDs entry")
	}
	return nil
}

// CheckGates evaluates gates for user. Concurrent checks for the same user and options are merged
// into shared check_gate calls of at most 100 names (see Options.BatchWindow); the answer holds
// exactly the names asked for. Every call sends gateNames, even for one name, so that a lone check can
// still be merged with others.
func (c *Client) CheckGates(ctx context.Context, user User, names []string, o ReadOptions) (map[string]GateResult, error) {
	if err := c.checkUser(EndpointCheckGate, user); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return map[string]GateResult{}, nil
	}
	seen := make(map[string]bool, len(names))
	distinct := make([]string, 0, len(names))
	for _, n := range names {
		if !ValidName(n) {
			return nil, c.badRequest(EndpointCheckGate, fmt.Sprintf("gate name %q must be 2-100 characters of [a-zA-Z0-9_-. ]", truncate(n, 120)))
		}
		if !seen[n] {
			seen[n] = true
			distinct = append(distinct, n)
		}
	}
	return c.batcher.check(ctx, user, distinct, o)
}

// CheckGate evaluates one gate; it goes through the same batcher as CheckGates.
func (c *Client) CheckGate(ctx context.Context, user User, name string, o ReadOptions) (GateResult, error) {
	res, err := c.CheckGates(ctx, user, []string{name}, o)
	if err != nil {
		return GateResult{}, err
	}
	return res[name], nil
}

// checkGateCall is one check_gate request, made by the batcher. tokenTaken says the batcher already
// took the rate-limit token for the first attempt.
func (c *Client) checkGateCall(ctx context.Context, user User, names []string, o ReadOptions, tokenTaken bool) (map[string]GateResult, error) {
	gateBatchSize.Observe(float64(len(names)))
	body, err := json.Marshal(map[string]any{"user": user, "gateNames": names, "statsigMetadata": readMetadata(o)})
	if err != nil {
		return nil, c.badRequest(EndpointCheckGate, "encode request: "+err.Error())
	}
	resp, err := c.do(ctx, request{endpoint: EndpointCheckGate, method: http.MethodPost,
		url: c.opts.APIURL + "/v1/check_gate", body: body, tokenTaken: tokenTaken})
	if err != nil {
		return nil, err
	}
	res, err := decodeCheckGate(resp)
	if err != nil {
		return nil, c.invalid(EndpointCheckGate, err)
	}
	return res, nil
}

// GetConfig evaluates a dynamic config or an experiment. An unknown name is not an error: Statsig
// answers value {} with an empty RuleID.
func (c *Client) GetConfig(ctx context.Context, user User, name string, o ReadOptions) (ConfigResult, error) {
	if err := c.checkUser(EndpointGetConfig, user); err != nil {
		return ConfigResult{}, err
	}
	if !ValidName(name) {
		return ConfigResult{}, c.badRequest(EndpointGetConfig, fmt.Sprintf("config name %q must be 2-100 characters of [a-zA-Z0-9_-. ]", truncate(name, 120)))
	}
	body, err := json.Marshal(map[string]any{"user": user, "configName": name, "statsigMetadata": readMetadata(o)})
	if err != nil {
		return ConfigResult{}, c.badRequest(EndpointGetConfig, "encode request: "+err.Error())
	}
	v, err := c.shared(ctx, EndpointGetConfig, user, name, o, func(ctx context.Context) (any, error) {
		resp, err := c.do(ctx, request{endpoint: EndpointGetConfig, method: http.MethodPost,
			url: c.opts.APIURL + "/v1/get_config", body: body})
		if err != nil {
			return nil, err
		}
		res, err := decodeConfig(resp)
		if err != nil {
			return nil, c.invalid(EndpointGetConfig, err)
		}
		if res.Name == "" {
			res.Name = name
		}
		return res, nil
	})
	if err != nil {
		return ConfigResult{}, err
	}
	res := v.(ConfigResult)
	res.Value = slices.Clone(res.Value)
	return res, nil
}

// shared runs fn, or joins an identical read of this client already under way (see readShare).
func (c *Client) shared(ctx context.Context, endpoint string, user User, name string, o ReadOptions, fn func(context.Context) (any, error)) (any, error) {
	group, err := batchKey(user, o)
	if err != nil {
		return nil, c.badRequest(endpoint, "user cannot be encoded as JSON: "+err.Error())
	}
	v, err := c.reads.do(ctx, endpoint+"|"+name+"|"+group, fn)
	if err != nil && ctx.Err() != nil {
		return nil, c.contextError(endpoint, ctx.Err())
	}
	return v, err
}

// GetLayer evaluates a layer. A layer that does not exist is a 404 (ClassNotFound).
func (c *Client) GetLayer(ctx context.Context, user User, name string, o ReadOptions) (LayerResult, error) {
	if err := c.checkUser(EndpointGetLayer, user); err != nil {
		return LayerResult{}, err
	}
	if name == "" {
		return LayerResult{}, c.badRequest(EndpointGetLayer, "layer name is empty")
	}
	body, err := json.Marshal(map[string]any{"user": user, "layerName": name, "statsigMetadata": readMetadata(o)})
	if err != nil {
		return LayerResult{}, c.badRequest(EndpointGetLayer, "encode request: "+err.Error())
	}
	v, err := c.shared(ctx, EndpointGetLayer, user, name, o, func(ctx context.Context) (any, error) {
		resp, err := c.do(ctx, request{endpoint: EndpointGetLayer, method: http.MethodPost,
			url: c.opts.APIURL + "/v1/get_layer", body: body})
		if err != nil {
			return nil, err
		}
		res, err := decodeLayer(resp)
		if err != nil {
			return nil, c.invalid(EndpointGetLayer, err)
		}
		if res.Name == "" {
			res.Name = name
		}
		return res, nil
	})
	if err != nil {
		return LayerResult{}, err
	}
	res := v.(LayerResult)
	res.Value = slices.Clone(res.Value)
	return res, nil
}

// LogEvents sends custom events to the events host in one log_event call.
func (c *Client) LogEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	for i, e := range events {
		if e.EventName == "" {
			return c.badRequest(EndpointLogEvent, fmt.Sprintf("event %d has no eventName", i))
		}
		if err := c.checkUser(EndpointLogEvent, e.User); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		switch e.Value.(type) {
		case nil, string, float64, float32, int, int32, int64, uint, uint32, uint64, json.Number:
		default:
			return c.badRequest(EndpointLogEvent, fmt.Sprintf("event %d: value must be a string or a number", i))
		}
	}
	return c.logCall(ctx, EndpointLogEvent, "/v1/log_event", map[string]any{"events": events})
}

// LogCustomExposures sends exposures to the events host in one log_custom_exposure call.
func (c *Client) LogCustomExposures(ctx context.Context, exposures []CustomExposure) error {
	if len(exposures) == 0 {
		return nil
	}
	for i, e := range exposures {
		if (e.ExperimentName == "") == (e.GateName == "") {
			return c.badRequest(EndpointLogCustomExposure, fmt.Sprintf("exposure %d needs exactly one of experimentName and gateName", i))
		}
		if e.Group == "" && e.RuleID == "" {
			return c.badRequest(EndpointLogCustomExposure, fmt.Sprintf("exposure %d needs a group or a ruleID", i))
		}
		if err := c.checkUser(EndpointLogCustomExposure, e.User); err != nil {
			return fmt.Errorf("exposure %d: %w", i, err)
		}
	}
	return c.logCall(ctx, EndpointLogCustomExposure, "/v1/log_custom_exposure", map[string]any{"exposures": exposures})
}

func (c *Client) logCall(ctx context.Context, endpoint, path string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return c.badRequest(endpoint, "encode request: "+err.Error())
	}
	// STATSIG-CLIENT-TIME lets Statsig correct event times for this machine's clock drift.
	h := http.Header{"Statsig-Client-Time": {strconv.FormatInt(c.opts.Clock.Now().UnixMilli(), 10)}}
	resp, err := c.do(ctx, request{endpoint: endpoint, method: http.MethodPost, url: c.opts.EventsURL + path,
		body: body, header: h})
	if err != nil {
		return err
	}
	if err := decodeLogResponse(resp); err != nil {
		if errors.Is(err, errNotAccepted) {
			return c.newError(endpoint, http.StatusAccepted, ClassUnavailable, err.Error(), err)
		}
		return c.invalid(endpoint, err)
	}
	return nil
}

// GetLegacyDailyReport asks the deprecated POST /v1/get_daily_report (server secret key) for the
// latest available report of reportType. Report.Date is the Pacific-time date Statsig says the data
// is for.
func (c *Client) GetLegacyDailyReport(ctx context.Context, reportType string) (Report, error) {
	if reportType == "" {
		return Report{}, c.badRequest(EndpointGetDailyReport, "report type is empty")
	}
	body, err := json.Marshal(map[string]string{"type": reportType})
	if err != nil {
		return Report{}, c.badRequest(EndpointGetDailyReport, "encode request: "+err.Error())
	}
	resp, err := c.do(ctx, request{endpoint: EndpointGetDailyReport, method: http.MethodPost,
		url: c.opts.APIURL + "/v1/get_daily_report", body: body})
	if err != nil {
		return Report{}, err
	}
	r, err := decodeLegacyReport(resp)
	if err != nil {
		return Report{}, c.invalid(EndpointGetDailyReport, err)
	}
	return r, nil
}

// GetReport asks the Console API (console key) for the download URL of reportType on date
// (YYYY-MM-DD). A date whose data is not published yet answers 400: ClassBadRequest.
func (c *Client) GetReport(ctx context.Context, reportType, date string) (Report, error) {
	if reportType == "" {
		return Report{}, c.badRequest(EndpointConsoleReports, "report type is empty")
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return Report{}, c.badRequest(EndpointConsoleReports, fmt.Sprintf("date %q is not YYYY-MM-DD", truncate(date, 40)))
	}
	q := url.Values{"type": {reportType}, "date": {date}}
	resp, err := c.do(ctx, request{endpoint: EndpointConsoleReports, method: http.MethodGet,
		url: c.opts.ConsoleURL + "/console/v1/reports?" + q.Encode(), console: true})
	if err != nil {
		return Report{}, err
	}
	u, err := decodeConsoleReport(resp)
	if err != nil {
		return Report{}, c.invalid(EndpointConsoleReports, err)
	}
	return Report{URL: u, Date: date}, nil
}

// ListEntities lists every entity of kind through the Console API (console key), asking for page
// 1, 2, ... until pagination.nextPage is null. It never follows nextPage as a URL (its format varies)
// and fails rather than return a short list when more than MaxListPages pages would be needed.
// Entities are in Statsig's order, without duplicates (a list can shift while it is paged).
func (c *Client) ListEntities(ctx context.Context, kind EntityKind) ([]Entity, error) {
	endpoint, err := kind.endpoint()
	if err != nil {
		return nil, c.badRequest("list", err.Error())
	}
	var out []Entity
	seen := map[string]bool{}
	for page := 1; ; page++ {
		if page > c.opts.MaxListPages {
			return nil, c.newError(endpoint, http.StatusOK, ClassInvalidResponse,
				fmt.Sprintf("list of %s has more than %d pages", kind, c.opts.MaxListPages), nil)
		}
		q := url.Values{"limit": {strconv.Itoa(c.opts.ListPageSize)}, "page": {strconv.Itoa(page)}}
		resp, err := c.do(ctx, request{endpoint: endpoint, method: http.MethodGet,
			url: c.opts.ConsoleURL + "/console/v1/" + string(kind) + "?" + q.Encode(), console: true})
		if err != nil {
			return nil, fmt.Errorf("list %s page %d: %w", kind, page, err)
		}
		items, more, err := decodeListPage(resp)
		if err != nil {
			return nil, c.invalid(endpoint, err)
		}
		for _, e := range items {
			if !seen[e.ID] {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
		if !more {
			return out, nil
		}
	}
}
