package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// Smoke test of the demo's Statsig: it starts, serves the seeded values through the operator's own
// client, and its admin endpoint flips them for loopback callers only.
func TestDemoFakeServesSeededValuesAndFlips(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fk, err := startFake()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(fk.Close)

	pool, err := statsig.NewClients(fk.Options())
	g.Expect(err).NotTo(HaveOccurred())
	c := pool.ForKey(fk.ServerKey)
	user := statsig.User{UserID: "shop-prod"}

	gates, err := c.CheckGates(ctx, user, []string{"new_checkout", "dark_mode"}, statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gates["new_checkout"].Value).To(BeTrue())
	g.Expect(gates["dark_mode"].Value).To(BeFalse())

	cfg, err := c.GetConfig(ctx, user, "checkout_settings", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Value).To(MatchJSON(`{"max_items":5,"theme":"dark"}`))
	exp, err := c.GetConfig(ctx, user, "button_color_test", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exp.GroupName).To(Equal("Test"))
	layer, err := c.GetLayer(ctx, user, "checkout_layer", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(layer.AllocatedExperimentName).To(Equal("button_color_test"))
	entities, err := pool.ForKey(fk.ConsoleKey).ListEntities(ctx, statsig.EntityGates)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(entities).To(HaveLen(3))
	for _, d := range reportDates(time.Now()) {
		_, err := pool.ForKey(fk.ConsoleKey).GetReport(ctx, demoReportType, d)
		g.Expect(err).NotTo(HaveOccurred(), "report of %s", d)
	}

	// Flip a gate and change a config through the admin endpoint, as the printed commands do.
	for _, u := range []string{fk.AdminURL + "/gates/new_checkout?value=false", fk.AdminURL + "/configs/checkout_settings?max_items=7&theme=light"} {
		resp, err := http.Post(u, "", nil) //nolint:gosec,noctx // loopback demo server
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), u)
	}
	gates, err = c.CheckGates(ctx, user, []string{"new_checkout"}, statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gates["new_checkout"].Value).To(BeFalse())
	cfg, err = c.GetConfig(ctx, user, "checkout_settings", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	var v map[string]any
	g.Expect(json.Unmarshal(cfg.Value, &v)).To(Succeed())
	g.Expect(v).To(Equal(map[string]any{"max_items": 7.0, "theme": "light"}))

	resp, err := http.Post(fk.AdminURL+"/gates/new_checkout?value=maybe", "", nil) //nolint:gosec,noctx // loopback demo server
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))

	// A caller from another machine is refused (served in memory: no traffic leaves the process).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/gates/new_checkout?value=true", nil)
	req.RemoteAddr = "192.0.2.10:40000"
	loopbackOnly(fk.adminHandler()).ServeHTTP(rec, req)
	g.Expect(rec.Code).To(Equal(http.StatusForbidden))
	gates, err = c.CheckGates(ctx, user, []string{"new_checkout"}, statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gates["new_checkout"].Value).To(BeFalse())
}

func TestReportDatesAreTheDaysBeforeToday(t *testing.T) {
	g := NewWithT(t)
	now, err := time.Parse(time.RFC3339, "2026-11-29T05:00:00Z") // 2026-11-28 21:00 in Los Angeles
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reportDates(now)).To(Equal([]string{"2026-11-25", "2026-11-26", "2026-11-27"}))
}
