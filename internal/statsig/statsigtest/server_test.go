package statsigtest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// call sends a raw request to the fake, the way a client that is not ours might.
func call(t *testing.T, method, url, key, body string) (int, map[string]any, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("STATSIG-API-KEY", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	_ = json.Unmarshal(raw, &obj)
	return resp.StatusCode, obj, string(raw)
}

const user = `"user":{"userID":"u1"}`

func TestFakeRejectsWhatStatsigRejects(t *testing.T) {
	srv := statsigtest.New(t)
	long := strings.Repeat("g", 101)
	names101 := `"gateNames":[` + strings.TrimSuffix(strings.Repeat(`"gg",`, 101), ",") + `]`
	tests := []struct {
		name, path, body string
	}{
		{"gateName and gateNames", "/v1/check_gate", `{` + user + `,"gateName":"aa","gateNames":["bb"]}`},
		{"neither gateName nor gateNames", "/v1/check_gate", `{` + user + `}`},
		{"no gate names", "/v1/check_gate", `{` + user + `,"gateNames":[]}`},
		{"101 gate names", "/v1/check_gate", `{` + user + `,` + names101 + `}`},
		{"one-character name", "/v1/check_gate", `{` + user + `,"gateName":"a"}`},
		{"101-character name", "/v1/check_gate", `{` + user + `,"gateName":"` + long + `"}`},
		{"slash in name", "/v1/check_gate", `{` + user + `,"gateNames":["ok_gate","a/b"]}`},
		{"no user", "/v1/check_gate", `{"gateName":"aa"}`},
		{"user without an id", "/v1/check_gate", `{"user":{"email":"a@b.c"},"gateName":"aa"}`},
		{"custom value is an object", "/v1/check_gate", `{"user":{"userID":"u","custom":{"a":{"b":1}}},"gateName":"aa"}`},
		{"customIDs value is a number", "/v1/check_gate", `{"user":{"customIDs":{"a":1}},"gateName":"aa"}`},
		{"exposureLoggingDisabled is a string", "/v1/check_gate", `{` + user + `,"gateName":"aa","statsigMetadata":{"exposureLoggingDisabled":"true"}}`},
		{"body is not JSON", "/v1/get_config", `configName=aa`},
		{"config name missing", "/v1/get_config", `{` + user + `}`},
		{"layer name empty", "/v1/get_layer", `{` + user + `,"layerName":""}`},
		{"no events", "/v1/log_event", `{"events":[]}`},
		{"event without user", "/v1/log_event", `{"events":[{"eventName":"e"}]}`},
		{"event value is an object", "/v1/log_event", `{"events":[{"eventName":"e","value":{},` + user + `}]}`},
		{"event metadata not strings", "/v1/log_event", `{"events":[{"eventName":"e","metadata":{"a":1},` + user + `}]}`},
		{"gate exposure without passes", "/v1/log_custom_exposure", `{"exposures":[{"gateName":"g","ruleID":"r",` + user + `}]}`},
		{"exposure without group or rule", "/v1/log_custom_exposure", `{"exposures":[{"experimentName":"e",` + user + `}]}`},
		{"legacy type unknown", "/v1/get_daily_report", `{"type":"topline_impact_daily"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			before := len(srv.Violations())
			status, obj, raw := call(t, http.MethodPost, srv.URL()+tc.path, srv.ServerKey, tc.body)
			g.Expect(status).To(Equal(http.StatusBadRequest), raw)
			g.Expect(obj).To(HaveKeyWithValue("status", float64(400)))
			g.Expect(srv.Violations()).To(HaveLen(before + 1))
		})
	}
	consoleTests := map[string]string{
		"legacy-only type on Console": "/console/v1/reports?type=unit_metrics_daily&date=2026-11-01",
		"date not YYYY-MM-DD":         "/console/v1/reports?type=pulse_daily&date=11/01/2026",
		"page zero":                   "/console/v1/gates?page=0",
		"limit not a number":          "/console/v1/layers?limit=ten",
	}
	for name, path := range consoleTests {
		t.Run(name, func(t *testing.T) {
			status, _, raw := call(t, http.MethodGet, srv.URL()+path, srv.ConsoleKey, "")
			NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest), raw)
		})
	}
}

func TestFakeChecksKeys(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	body := `{` + user + `,"gateName":"aa"}`
	status, _, _ := call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ServerKey, body)
	g.Expect(status).To(Equal(http.StatusOK), "the header name is case-insensitive")

	status, obj, _ := call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ConsoleKey, body)
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(obj["message"]).To(ContainSubstring(srv.ConsoleKey), "like Statsig, the fake quotes the key")

	status, obj, _ = call(t, http.MethodGet, srv.URL()+"/console/v1/gates", srv.ServerKey, "")
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(obj["message"]).To(ContainSubstring("only accepts an active CONSOLE key"))

	for _, key := range []string{"", "secret-unknown", "client-" + strings.TrimPrefix(srv.ServerKey, "secret-")} {
		status, _, _ = call(t, http.MethodPost, srv.URL()+"/v1/get_config", key, `{`+user+`,"configName":"aa"}`)
		g.Expect(status).To(Equal(http.StatusUnauthorized), "key %q", key)
	}
	srv.AddKey("secret-rotated")
	status, _, _ = call(t, http.MethodPost, srv.URL()+"/v1/get_config", "secret-rotated", `{`+user+`,"configName":"aa"}`)
	g.Expect(status).To(Equal(http.StatusOK))

	status, _, _ = call(t, http.MethodGet, srv.URL()+"/v1/check_gate", srv.ServerKey, "")
	g.Expect(status).To(Equal(http.StatusMethodNotAllowed))
	status, _, _ = call(t, http.MethodPost, srv.URL()+"/v1/nope", srv.ServerKey, "{}")
	g.Expect(status).To(Equal(http.StatusNotFound))
	g.Expect(srv.Count(statsig.EndpointCheckGate)).To(Equal(3))
}

func TestFakeAnswersDocumentedShapes(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	srv.SetGate("aa", true)
	_, obj, _ := call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ServerKey, `{`+user+`,"gateName":"aa"}`)
	g.Expect(obj).To(Equal(map[string]any{"name": "aa", "value": true, "rule_id": "fake_pass_rule", "group_name": "Everyone"}))

	_, obj, _ = call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ServerKey, `{`+user+`,"gateNames":["aa","bb"]}`)
	g.Expect(obj).To(HaveKeyWithValue("bb", map[string]any{"name": "bb", "value": false, "rule_id": nil, "group_name": nil}))

	srv.SetBatchShape(statsigtest.BatchArray)
	_, _, raw := call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ServerKey, `{`+user+`,"gateNames":["aa","bb"]}`)
	g.Expect(raw).To(HavePrefix("["))

	_, obj, _ = call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, `{`+user+`,"configName":"nope"}`)
	g.Expect(obj).To(Equal(map[string]any{"name": "nope", "value": map[string]any{}, "group": "", "rule_id": nil, "group_name": nil}))

	status, _, _ := call(t, http.MethodPost, srv.URL()+"/v1/get_layer", srv.ServerKey, `{`+user+`,"layerName":"nope"}`)
	g.Expect(status).To(Equal(http.StatusNotFound))

	status, obj, _ = call(t, http.MethodPost, srv.URL()+"/v1/log_event", srv.ServerKey, `{`+user+`,"events":[{"eventName":"e","time":"2026-01-01T00:00:00Z"}]}`)
	g.Expect(status).To(Equal(http.StatusAccepted), "a shared user covers every event")
	g.Expect(obj).To(Equal(map[string]any{"success": true}))

	srv.SetEntities(statsig.EntityGates, []statsig.Entity{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	_, obj, _ = call(t, http.MethodGet, srv.URL()+"/console/v1/gates?limit=2", srv.ConsoleKey, "")
	g.Expect(obj["data"]).To(HaveLen(2))
	g.Expect(obj["pagination"]).To(HaveKeyWithValue("nextPage", "/console/v1/gates?page=2&limit=2"))
	_, obj, _ = call(t, http.MethodGet, srv.URL()+"/console/v1/gates?limit=2&page=2", srv.ConsoleKey, "")
	g.Expect(obj["data"]).To(HaveLen(1))
	g.Expect(obj["pagination"]).To(HaveKeyWithValue("nextPage", BeNil()))
	g.Expect(srv.Violations()).To(BeEmpty())
}

func TestFakeFaults(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	body := `{` + user + `,"configName":"aa"}`
	srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 503, RetryAfter: "7", Times: 2})
	for range 2 {
		status, _, _ := call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, body)
		g.Expect(status).To(Equal(http.StatusServiceUnavailable))
	}
	status, _, _ := call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, body)
	g.Expect(status).To(Equal(http.StatusOK), "Times ran out")
	g.Expect(srv.Requests(statsig.EndpointGetConfig)[0].Status).To(Equal(503))

	srv.Fault(statsigtest.AllEndpoints, statsigtest.Fault{Status: 500})
	status, _, _ = call(t, http.MethodPost, srv.URL()+"/v1/check_gate", srv.ServerKey, `{`+user+`,"gateName":"aa"}`)
	g.Expect(status).To(Equal(http.StatusInternalServerError))
	srv.ClearFaults()

	srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Truncate: true})
	_, _, raw := call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, body)
	g.Expect(json.Valid([]byte(raw))).To(BeFalse())
	srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Oversize: 1 << 20})
	_, _, raw = call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, body)
	g.Expect(len(raw)).To(BeNumerically(">", 1<<20))
	g.Expect(json.Valid([]byte(raw))).To(BeTrue(), "padding is JSON whitespace")

	srv.Fault(statsig.EndpointGetConfig, statsigtest.Fault{ResetMidBody: true})
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/get_config", strings.NewReader(body))
	req.Header.Set("statsig-api-key", srv.ServerKey)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = io.ReadAll(resp.Body)
	g.Expect(err).To(HaveOccurred(), "the body breaks off")
	_ = resp.Body.Close()
}

func TestFakePause(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	resume := srv.Pause(statsig.EndpointGetConfig)
	done := make(chan int, 1)
	go func() {
		status, _, _ := call(t, http.MethodPost, srv.URL()+"/v1/get_config", srv.ServerKey, `{`+user+`,"configName":"aa"}`)
		done <- status
	}()
	g.Eventually(func() int { return srv.Count(statsig.EndpointGetConfig) }).Should(Equal(1))
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	resume()
	g.Eventually(done).Should(Receive(Equal(http.StatusOK)))
}

func TestFakeDownloads(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	pool, err := statsig.NewClients(srv.Options())
	g.Expect(err).NotTo(HaveOccurred())
	console := pool.ForKey(srv.ConsoleKey)
	ctx := t.Context()
	dl := srv.DownloadHTTPClient()
	get := func(url string, header http.Header) (*http.Response, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := dl.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	srv.SetReport("first_exposures", "2026-11-01", statsigtest.BytesReport([]byte("a,b\n1,2\n"), false))
	r, err := console.GetReport(ctx, "first_exposures", "2026-11-01")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.URL).To(HavePrefix("https://"))
	resp, body, err := get(r.URL, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(Equal("a,b\n1,2\n"))

	// Sending the key is refused and counted.
	resp, _, err = get(r.URL, http.Header{"Statsig-Api-Key": {srv.ConsoleKey}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
	g.Expect(srv.KeyLeaksToDownloadHost()).To(Equal(1))
	g.Expect(srv.Violations()).To(ContainElement(ContainSubstring("download")))

	// A generated, gzip-compressed report streams row by row.
	srv.SetReport("first_exposures", "2026-11-02", statsigtest.GeneratedReport("2026-11-02", 50000, true))
	r, err = console.GetReport(ctx, "first_exposures", "2026-11-02")
	g.Expect(err).NotTo(HaveOccurred())
	resp, body, err = get(r.URL, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("application/gzip"))
	zr, err := gzip.NewReader(bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	sc := bufio.NewScanner(zr)
	lines := 0
	for sc.Scan() {
		if lines == 0 {
			g.Expect(sc.Text()).To(Equal(statsigtest.FirstExposuresHeader))
		}
		lines++
	}
	g.Expect(lines).To(Equal(50001))

	// Faults on downloads.
	srv.Fault(statsigtest.EndpointDownload, statsigtest.Fault{Truncate: true, Times: 1})
	_, _, err = get(r.URL, nil)
	g.Expect(err).To(HaveOccurred(), "a cut download fails the read")
	srv.Fault(statsigtest.EndpointDownload, statsigtest.Fault{Status: 503, Times: 1})
	resp, _, _ = get(r.URL, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))

	// Expired URLs answer 403.
	srv.ExpireDownloads()
	resp, _, _ = get(r.URL, nil)
	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))

	// The CA file trusts the download host.
	pem, err := os.ReadFile(srv.DownloadCAFile())
	g.Expect(err).NotTo(HaveOccurred())
	pool2 := x509.NewCertPool()
	g.Expect(pool2.AppendCertsFromPEM(pem)).To(BeTrue())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}}
	resp, err = c.Get(srv.DownloadURL() + "/reports/x?sig=expired")
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
}

func TestClockAdvancesOnWaits(t *testing.T) {
	g := NewWithT(t)
	c := statsigtest.NewClock(time.Time{})
	start := c.Now()
	<-c.After(time.Second)
	c.Sleep(2 * time.Second)
	tm := c.NewTimer(3 * time.Second)
	<-tm.C()
	c.Advance(time.Minute)
	g.Expect(c.Since(start)).To(Equal(time.Minute + 6*time.Second))
	g.Expect(c.Sleeps()).To(Equal([]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}))
}

// The fake keeps what it accepted of log_event and log_custom_exposure, as Statsig would store it:
// a rejected request logs nothing, and a shared user applies to entries without their own.
func TestFakeRecordsLoggedEventsAndExposures(t *testing.T) {
	g := NewWithT(t)
	srv := statsigtest.New(t)
	status, _, raw := call(t, http.MethodPost, srv.URL()+"/v1/log_event", srv.ServerKey,
		`{"user":{"userID":"shared"},"events":[{"eventName":"a","value":"v","metadata":{"k":"x"}},{"eventName":"b",`+user+`}]}`)
	g.Expect(status).To(Equal(http.StatusAccepted), raw)
	status, _, raw = call(t, http.MethodPost, srv.URL()+"/v1/log_event", srv.ServerKey, `{"events":[{"eventName":"no_user"}]}`)
	g.Expect(status).To(Equal(http.StatusBadRequest), raw)
	status, _, raw = call(t, http.MethodPost, srv.URL()+"/v1/log_custom_exposure", srv.ServerKey,
		`{"exposures":[{"experimentName":"e","group":"Test","time":1700000000000,`+user+`},{"gateName":"g","passes":false,"ruleID":"default",`+user+`}]}`)
	g.Expect(status).To(Equal(http.StatusAccepted), raw)
	status, _, raw = call(t, http.MethodPost, srv.URL()+"/v1/log_custom_exposure", srv.ServerKey,
		`{"exposures":[{"experimentName":"rejected",`+user+`}]}`)
	g.Expect(status).To(Equal(http.StatusBadRequest), raw)

	g.Expect(srv.LoggedEvents()).To(Equal([]statsigtest.LoggedEvent{
		{EventName: "a", Value: "v", User: statsig.User{UserID: "shared"}, Metadata: map[string]string{"k": "x"}},
		{EventName: "b", User: statsig.User{UserID: "u1"}},
	}))
	exps := srv.LoggedExposures()
	g.Expect(exps).To(HaveLen(2))
	g.Expect(exps[0]).To(And(HaveField("ExperimentName", "e"), HaveField("Group", "Test"), HaveField("Time", float64(1700000000000)),
		HaveField("User", statsig.User{UserID: "u1"}), HaveField("Passes", BeNil())))
	g.Expect(exps[1]).To(And(HaveField("GateName", "g"), HaveField("Passes", HaveValue(BeFalse())), HaveField("RuleID", "default")))
}
