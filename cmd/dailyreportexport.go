package main

import (
	"fmt"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/objectstore"
	"github.com/statsig-operator/statsig-operator/internal/options"
)

// setupDailyReportExport wires the DailyReportExport controller.
func setupDailyReportExport(mgr ctrl.Manager, opts *options.Options, s *shared) error {
	if err := (&controllers.DailyReportExportReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Credentials: s.Credentials,
		Secrets:     s.Secrets,
		Reports:     controllers.ReportSourceFor(s.Clients),
		ConfigMaps:  controllers.LiveConfigMapWriter(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme()),
		Download:    reportDownloadClient(),
		ObjectStore: objectstore.Options{
			AllowFile:               opts.AllowFileDestinations,
			AllowAmbientCredentials: opts.AllowAmbientObjectStoreCredentials,
		},
		Events:                  mgr.GetEventRecorder("statsig-operator"),
		Clock:                   s.Clock,
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up DailyReportExport controller: %w", err)
	}
	return nil
}

// reportDownloadClient fetches reports from their signed download URLs. It is a client of its own,
// apart from the Statsig API client, so that no Statsig key can reach the download host. Its
// transport is a clone of the default one: it trusts the system roots, which honour SSL_CERT_FILE
// and SSL_CERT_DIR, and the proxy settings of the environment. There is no overall timeout, since a
// report may be gigabytes; each export bounds its own transfer, and a server that accepts the
// connection but never answers is cut off by the header timeout.
func reportDownloadClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: t}
}
