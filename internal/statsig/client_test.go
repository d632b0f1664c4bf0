package statsig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

func TestCheckGatesBothBatchShapes(t *testing.T) {
	for _, shape := range []statsigtest.BatchShape{statsigtest.BatchMap, statsigtest.BatchArray} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			h.srv.SetBatchShape(shape)
			h.srv.SetGate("new_checkout", true)
			h.srv.SetGate("dark_mode", false)
			h.srv.SetGateResult("with space.v2", statsig.GateResult{Value: true, RuleID: "r1", GroupName: "Beta"})

			res, err := h.server().CheckGates(context.Background(), testUser,
				[]string{"new_checkout", "dark_mode", "with space.v2", "unknown_gate", "dark_mode"}, statsig.ReadOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(map[string]statsig.GateResult{
				"new_checkout":  {Name: "new_checkout", Value: true, RuleID: "fake_pass_rule", GroupName: "Everyone"},
				"dark_mode":     {Name: "dark_mode", Value: false, RuleID: "default"},
				"with space.v2": {Name: "with space.v2", Value: true, RuleID: "r1", GroupName: "Beta"},
				"unknown_gate":  {Name: "unknown_gate"},
			}))
			reqs := h.srv.Requests(statsig.EndpointCheckGate)
			g.Expect(reqs).To(HaveLen(1))
			g.Expect(reqs[0].GateNames()).To(ConsistOf("new_checkout", "dark_mode", "with space.v2", "unknown_gate"))
			g.Expect(reqs[0].User()).To(Equal(testUser))
			g.Expect(reqs[0].Key()).To(Equal(h.srv.ServerKey))
			g.Expect(h.srv.Violations()).To(BeEmpty())
		})
	}
}

func TestCheckGateFollowsFlips(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	h.srv.SetGate("flag", false)
	r, err := h.server().CheckGate(ctx, testUser, "flag", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Value).To(BeFalse())
	h.srv.SetGate("flag", true)
	r, err = h.server().CheckGate(ctx, testUser, "flag", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Value).To(BeTrue())
	h.srv.DeleteGate("flag")
	r, err = h.server().CheckGate(ctx, testUser, "flag", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r).To(Equal(statsig.GateResult{Name: "flag"}))
}

func TestExposureLoggingDisabledByDefault(t *testing.T) {
	ctx := context.Background()
	reads := map[string]func(c *statsig.Client, o statsig.ReadOptions) error{
		statsig.EndpointCheckGate: func(c *statsig.Client, o statsig.ReadOptions) error {
			_, err := c.CheckGate(ctx, testUser, "a_gate", o)
			return err
		},
		statsig.EndpointGetConfig: func(c *statsig.Client, o statsig.ReadOptions) error {
			_, err := c.GetConfig(ctx, testUser, "a_config", o)
			return err
		},
		statsig.EndpointGetLayer: func(c *statsig.Client, o statsig.ReadOptions) error {
			_, err := c.GetLayer(ctx, testUser, "a_layer", o)
			return err
		},
	}
	for endpoint, read := range reads {
		for _, logExposures := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/logExposures=%t", endpoint, logExposures), func(t *testing.T) {
				g := NewWithT(t)
				h := newHarness(t)
				h.srv.SetLayer("a_layer", map[string]any{"k": 1}, "")
				g.Expect(read(h.server(), statsig.ReadOptions{LogExposures: logExposures})).To(Succeed())
				reqs := h.srv.Requests(endpoint)
				g.Expect(reqs).To(HaveLen(1))
				g.Expect(reqs[0].JSON).To(HaveKey("statsigMetadata"))
				g.Expect(reqs[0].ExposureLoggingDisabled()).To(Equal(!logExposures))
			})
		}
	}
}

func TestGetConfig(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*statsigtest.Server)
		want  statsig.ConfigResult
	}{
		{"dynamic config", func(s *statsigtest.Server) {
			s.SetConfig("checkout_settings", map[string]any{"max_items": 5, "theme": "dark"})
		},
			statsig.ConfigResult{Name: "checkout_settings", Value: json.RawMessage(`{"max_items":5,"theme":"dark"}`), RuleID: "fake_config_rule"}},
		{"experiment", func(s *statsigtest.Server) {
			s.SetExperiment("checkout_settings", "Test", map[string]any{"color": "blue"})
		},
			statsig.ConfigResult{Name: "checkout_settings", Value: json.RawMessage(`{"color":"blue"}`), RuleID: "fake_group_Test", GroupName: "Test"}},
		{"unknown config answers an empty value", func(*statsigtest.Server) {},
			statsig.ConfigResult{Name: "checkout_settings", Value: json.RawMessage(`{}`)}},
		{"deleted config", func(s *statsigtest.Server) {
			s.SetConfig("checkout_settings", map[string]any{"a": 1})
			s.DeleteConfig("checkout_settings")
		}, statsig.ConfigResult{Name: "checkout_settings", Value: json.RawMessage(`{}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			tc.setup(h.srv)
			got, err := h.server().GetConfig(context.Background(), testUser, "checkout_settings", statsig.ReadOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
			g.Expect(h.srv.Requests(statsig.EndpointGetConfig)[0].JSON).To(HaveKeyWithValue("configName", "checkout_settings"))
		})
	}
}

func TestGetLayer(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	h.srv.SetLayer("checkout_layer", map[string]any{"price_format": "compact"}, "add_to_cart_experiment")
	got, err := h.server().GetLayer(ctx, testUser, "checkout_layer", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(statsig.LayerResult{Name: "checkout_layer", Value: json.RawMessage(`{"price_format":"compact"}`),
		RuleID: "fake_layer_rule", AllocatedExperimentName: "add_to_cart_experiment"}))

	h.srv.DeleteLayer("checkout_layer")
	_, err = h.server().GetLayer(ctx, testUser, "checkout_layer", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassNotFound))
	g.Expect(h.srv.Count(statsig.EndpointGetLayer)).To(Equal(2), "404 is not retried")
}

func TestLogEventsAndExposures(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	g.Expect(h.server().LogEvents(ctx, []statsig.Event{
		{EventName: "gate_flipped", Value: "new_checkout", Time: 1616826986211, User: testUser, Metadata: map[string]string{"ns": "shop"}},
		{EventName: "count", Value: 3.5, User: statsig.User{CustomIDs: map[string]string{"cluster": "prod"}}},
	})).To(Succeed())
	g.Expect(h.server().LogCustomExposures(ctx, []statsig.CustomExposure{
		{User: testUser, ExperimentName: "button_color_test", Group: "Control"},
		{User: testUser, GateName: "new_checkout", Passes: false, RuleID: "default"},
	})).To(Succeed())
	g.Expect(h.srv.Violations()).To(BeEmpty())

	ev := h.srv.Requests(statsig.EndpointLogEvent)
	g.Expect(ev).To(HaveLen(1))
	g.Expect(ev[0].Header.Get("STATSIG-CLIENT-TIME")).To(Equal(fmt.Sprint(h.clock.Now().UnixMilli())))
	g.Expect(ev[0].JSON["events"]).To(HaveLen(2))
	ex := h.srv.Requests(statsig.EndpointLogCustomExposure)
	g.Expect(ex).To(HaveLen(1))
	exposures := ex[0].JSON["exposures"].([]any)
	g.Expect(exposures[0]).NotTo(HaveKey("passes"))
	g.Expect(exposures[1]).To(HaveKeyWithValue("passes", false))

	// Nothing to send is not a call.
	g.Expect(h.server().LogEvents(ctx, nil)).To(Succeed())
	g.Expect(h.srv.Count(statsig.EndpointLogEvent)).To(Equal(1))
}

func TestConsoleReportBothDataShapes(t *testing.T) {
	for _, shape := range []statsigtest.ReportDataShape{statsigtest.ReportDataArray, statsigtest.ReportDataObject} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			ctx := context.Background()
			h.srv.SetReportDataShape(shape)
			h.srv.SetReport("first_exposures", "2026-11-01", statsigtest.BytesReport([]byte("a,b\n1,2\n"), false))

			r, err := h.console().GetReport(ctx, "first_exposures", "2026-11-01")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Date).To(Equal("2026-11-01"))
			g.Expect(r.URL).To(HavePrefix(h.srv.DownloadURL()))
			req := h.srv.Requests(statsig.EndpointConsoleReports)[0]
			g.Expect(req.Query.Get("type")).To(Equal("first_exposures"))
			g.Expect(req.Query.Get("date")).To(Equal("2026-11-01"))
			g.Expect(req.Header.Get("STATSIG-API-VERSION")).To(Equal("20240601"))

			// Not published yet: 400, not retried.
			_, err = h.console().GetReport(ctx, "first_exposures", "2026-11-02")
			g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassBadRequest))
			g.Expect(h.srv.Count(statsig.EndpointConsoleReports)).To(Equal(2))
		})
	}
}

func TestLegacyDailyReport(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.server().GetLegacyDailyReport(ctx, "first_exposures")
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassBadRequest))

	h.srv.SetLegacyReport("first_exposures", "2026-10-30", statsigtest.BytesReport([]byte("x"), false))
	h.srv.SetLegacyReport("first_exposures", "2026-10-31", statsigtest.BytesReport([]byte("y"), true))
	r, err := h.server().GetLegacyDailyReport(ctx, "first_exposures")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Date).To(Equal("2026-10-31"))
	g.Expect(r.URL).To(HavePrefix(h.srv.DownloadURL()))
	g.Expect(h.srv.Requests(statsig.EndpointGetDailyReport)[1].JSON).To(Equal(map[string]any{"type": "first_exposures"}))
}

func TestListEntitiesPages(t *testing.T) {
	for _, kind := range statsig.EntityKinds {
		t.Run(string(kind), func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t)
			var want []statsig.Entity
			for i := range 23 {
				want = append(want, statsig.Entity{ID: fmt.Sprintf("%s_%02d", kind, i), Name: fmt.Sprintf("Display %d", i)})
			}
			h.srv.SetEntities(kind, want)
			h.srv.SetPageSize(5)

			got, err := h.console().ListEntities(context.Background(), kind)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(23))
			for i, e := range got {
				g.Expect(e.ID).To(Equal(want[i].ID))
				g.Expect(e.Name).To(Equal(want[i].Name))
			}
			reqs := h.srv.Requests(kind.Endpoint())
			g.Expect(reqs).To(HaveLen(5), "pages of 5 until nextPage is null")
			for i, r := range reqs {
				g.Expect(r.Query.Get("page")).To(Equal(fmt.Sprint(i + 1)))
			}
		})
	}
}

func TestListEntitiesEmptyAndStatus(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	got, err := h.console().ListEntities(context.Background(), statsig.EntityExperiments)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(BeEmpty())

	off := false
	h.srv.SetEntities(statsig.EntityGates, []statsig.Entity{{ID: "a_gate", Name: "A Gate", IsEnabled: &off, Status: "Archived", Tags: []string{"t"}}})
	got, err = h.console().ListEntities(context.Background(), statsig.EntityGates)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]statsig.Entity{{ID: "a_gate", Name: "A Gate", Status: "Archived", Tags: []string{"t"}, IsEnabled: &off}}))
}

func TestListEntitiesPageCap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(o *statsig.Options) { o.MaxListPages = 3 })
	var many []statsig.Entity
	for i := range 10 {
		many = append(many, statsig.Entity{ID: fmt.Sprint("layer_", i)})
	}
	h.srv.SetEntities(statsig.EntityLayers, many)
	h.srv.SetPageSize(2)
	_, err := h.console().ListEntities(context.Background(), statsig.EntityLayers)
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassInvalidResponse))
	g.Expect(err.Error()).To(ContainSubstring("more than 3 pages"))
	g.Expect(h.srv.Count(statsig.EndpointListLayers)).To(Equal(3))
}

func TestWrongKeyKind(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.console().CheckGate(ctx, testUser, "a_gate", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
	g.Expect(err.Error()).NotTo(ContainSubstring(h.srv.ConsoleKey))
	_, err = h.server().ListEntities(ctx, statsig.EntityGates)
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
	g.Expect(err.Error()).NotTo(ContainSubstring(h.srv.ServerKey))
	_, err = h.pool.ForKey("").CheckGate(ctx, testUser, "a_gate", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
	g.Expect(h.srv.Count(statsig.EndpointCheckGate)).To(Equal(1), "no request without a key")

	h.srv.RevokeKey(h.srv.ServerKey)
	_, err = h.server().GetConfig(ctx, testUser, "a_config", statsig.ReadOptions{})
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
}

func TestLocalValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.server()
	tests := map[string]func() error{
		"user without id": func() error {
			_, err := c.CheckGate(ctx, statsig.User{Email: "a@b.c"}, "a_gate", statsig.ReadOptions{})
			return err
		},
		"gate name too short": func() error {
			_, err := c.CheckGate(ctx, testUser, "a", statsig.ReadOptions{})
			return err
		},
		"gate name with slash": func() error {
			_, err := c.CheckGates(ctx, testUser, []string{"ok_gate", "no/slash"}, statsig.ReadOptions{})
			return err
		},
		"config name too long": func() error {
			_, err := c.GetConfig(ctx, testUser, string(make([]byte, 101)), statsig.ReadOptions{})
			return err
		},
		"report date": func() error {
			_, err := h.console().GetReport(ctx, "first_exposures", "01/11/2026")
			return err
		},
		"event without name": func() error { return c.LogEvents(ctx, []statsig.Event{{User: testUser}}) },
		"exposure with both names": func() error {
			return c.LogCustomExposures(ctx, []statsig.CustomExposure{{User: testUser, GateName: "gg", ExperimentName: "ee", Group: "x"}})
		},
		"unknown entity kind": func() error {
			_, err := h.console().ListEntities(ctx, statsig.EntityKind("segments"))
			return err
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(statsig.Classify(call())).To(Equal(statsig.ClassBadRequest))
		})
	}
	NewWithT(t).Expect(h.srv.Count(statsigtest.AllEndpoints)).To(BeZero(), "nothing Statsig would refuse is sent")
}

func TestForKeySharesOneClientPerKey(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	g.Expect(h.pool.ForKey(h.srv.ServerKey)).To(BeIdenticalTo(h.server()))
	g.Expect(h.pool.ForKey(h.srv.ConsoleKey)).NotTo(BeIdenticalTo(h.server()))
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		g.Expect(fmt.Sprintf(format, h.server())).NotTo(ContainSubstring(h.srv.ServerKey))
		g.Expect(fmt.Sprintf(format, *h.server())).NotTo(ContainSubstring(h.srv.ServerKey))
	}
}

// A key no resource asks for any more (rotated, or its resources deleted) leaves the pool after an
// hour idle; a key in use stays, and keeps its client.
func TestForKeyDropsIdleClients(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	used := h.pool.ForKey(h.srv.ServerKey)
	h.pool.ForKey(h.srv.ConsoleKey)
	g.Expect(h.pool.Len()).To(Equal(2))
	for range 5 { // the server key is asked for every 20 minutes, the console key never again
		h.clock.Advance(20 * time.Minute)
		g.Expect(h.pool.ForKey(h.srv.ServerKey)).To(BeIdenticalTo(used))
	}
	g.Expect(h.pool.Len()).To(Equal(1))
	h.clock.Advance(2 * time.Hour)
	h.pool.ForKey("secret-another")
	g.Expect(h.pool.Len()).To(Equal(1), "only the key just asked for")
	g.Expect(h.pool.ForKey(h.srv.ServerKey)).NotTo(BeIdenticalTo(used), "a new client after the old one was dropped")
}

func TestNewClientsRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]statsig.Options{
		"relative URL":    {APIURL: "api.statsig.com"},
		"URL with query":  {ConsoleURL: "https://statsigapi.net/?x=1"},
		"negative QPS":    {QPS: -1},
		"negative counts": {MaxAttempts: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := statsig.NewClients(o)
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
}
