package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// demoTB lets the test fake run in a program: statsigtest.New takes a testing.TB and uses only
// Helper, Cleanup, TempDir and Errorf. Any other method would panic on the nil embedded TB.
type demoTB struct {
	testing.TB
	dir      string
	cleanups []func()
}

func newDemoTB() (*demoTB, error) {
	dir, err := os.MkdirTemp("", "statsig-demo-fake-")
	if err != nil {
		return nil, err
	}
	return &demoTB{dir: dir}, nil
}

func (d *demoTB) Helper()                           {}
func (d *demoTB) Cleanup(f func())                  { d.cleanups = append(d.cleanups, f) }
func (d *demoTB) TempDir() string                   { return d.dir }
func (d *demoTB) Errorf(format string, args ...any) { log.Printf("statsig fake: "+format, args...) }

// Close runs the cleanups (last first) and removes the temporary directory.
func (d *demoTB) Close() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	_ = os.RemoveAll(d.dir)
}

// fake is the demo's Statsig: the project's test fake, seeded, plus an admin endpoint on loopback to
// change values while the operator runs.
type fake struct {
	*statsigtest.Server
	tb       *demoTB
	admin    *http.Server
	AdminURL string
}

// The demo's report type and how many past dates have a report.
const (
	demoReportType = "first_exposures"
	demoReportDays = 3
)

func startFake() (*fake, error) {
	tb, err := newDemoTB()
	if err != nil {
		return nil, err
	}
	f := &fake{Server: statsigtest.New(tb), tb: tb}
	f.seed(time.Now())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Close()
		return nil, err
	}
	f.AdminURL = "http://" + l.Addr().String()
	f.admin = &http.Server{Handler: loopbackOnly(f.adminHandler()), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.admin.Serve(l) }()
	return f, nil
}

func (f *fake) Close() {
	_ = f.admin.Close()
	f.tb.Close()
}

// seed sets the values the samples ask for, the Console entities that discovery lists, and a
// first_exposures report for each of the last demoReportDays Pacific dates.
func (f *fake) seed(now time.Time) {
	f.SetGate("new_checkout", true)
	f.SetGate("dark_mode", false)
	f.SetGate("platform_maintenance_banner", false)
	f.SetConfig("checkout_settings", map[string]any{"max_items": 5, "theme": "dark"})
	f.SetExperiment("button_color_test", "Test", map[string]any{"color": "blue"})
	f.SetLayer("checkout_layer", map[string]any{"price_format": "compact"}, "button_color_test")
	f.SetEntities(statsig.EntityGates, []statsig.Entity{
		{ID: "new_checkout", Name: "New checkout"},
		{ID: "dark_mode", Name: "Dark mode"},
		{ID: "platform_maintenance_banner", Name: "Platform maintenance banner"},
	})
	f.SetEntities(statsig.EntityDynamicConfigs, []statsig.Entity{{ID: "checkout_settings", Name: "Checkout settings"}})
	f.SetEntities(statsig.EntityExperiments, []statsig.Entity{{ID: "button_color_test", Name: "Button color test"}})
	f.SetEntities(statsig.EntityLayers, []statsig.Entity{{ID: "checkout_layer", Name: "Checkout layer"}})
	for _, d := range reportDates(now) {
		f.SetReport(demoReportType, d, statsigtest.GeneratedReport(d, 250, false))
	}
}

// reportDates are the demoReportDays Pacific dates before today's, oldest first.
func reportDates(now time.Time) []string {
	pacific, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		pacific = time.UTC
	}
	today := now.In(pacific)
	var out []string
	for i := demoReportDays; i >= 1; i-- {
		out = append(out, today.AddDate(0, 0, -i).Format(time.DateOnly))
	}
	return out
}

// adminHandler: POST /gates/<name>?value=true|false flips a gate for every user;
// POST /configs/<name>?<field>=<value>... sets a dynamic config's fields (numbers and booleans as
// JSON, anything else as a string).
func (f *fake) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /gates/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := strconv.ParseBool(r.URL.Query().Get("value"))
		if err != nil {
			http.Error(w, "want ?value=true or ?value=false", http.StatusBadRequest)
			return
		}
		f.SetGate(r.PathValue("name"), v)
		_, _ = fmt.Fprintf(w, "gate %s is now %t for every user\n", r.PathValue("name"), v)
	})
	mux.HandleFunc("POST /configs/{name}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if len(q) == 0 {
			http.Error(w, "want ?field=value[&field=value...]", http.StatusBadRequest)
			return
		}
		value := map[string]any{}
		for k := range q {
			value[k] = scalar(q.Get(k))
		}
		f.SetConfig(r.PathValue("name"), value)
		_, _ = fmt.Fprintf(w, "config %s is now %v for every user\n", r.PathValue("name"), value)
	})
	return mux
}

func scalar(s string) any {
	if b, err := strconv.ParseBool(s); err == nil {
		return b
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n
	}
	return s
}

// loopbackOnly refuses any caller that is not on this machine, whatever the listener.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(strings.Trim(host, "[]")); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "the demo's admin endpoint answers loopback callers only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
