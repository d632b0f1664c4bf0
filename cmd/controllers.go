package main

import (
	"fmt"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

// setupControllers registers every controller with the manager.
func setupControllers(mgr ctrl.Manager, opts *options.Options) error {
	metrics.Register()
	so := statsig.DefaultOptions()
	so.APIURL, so.EventsURL, so.ConsoleURL = opts.StatsigAPIURL, opts.StatsigEventsURL, opts.StatsigConsoleURL
	so.QPS, so.Burst = opts.StatsigQPS, opts.StatsigBurst
	so.MaxResponseBytes = opts.StatsigMaxResponseBytes
	so.Logger = ctrl.Log.WithName("statsig")
	clients, err := statsig.NewClients(so)
	if err != nil {
		return fmt.Errorf("statsig client: %w", err)
	}
	defaultSecret, _ := opts.DefaultSecretName() // validated with the flags
	trusted, _ := opts.TrustedNamespaceSelector()
	creds := &credentials.Resolver{Reader: mgr.GetAPIReader(), DefaultSecret: defaultSecret, TrustedNamespaces: trusted}
	writer := &configmap.Writer{Client: mgr.GetClient(), Scheme: mgr.GetScheme()}
	clk := clock.RealClock{}

	if err := (&controllers.GateCheckReconciler{
		Client:                  mgr.GetClient(),
		Credentials:             creds,
		Gates:                   controllers.GateCheckerFor(clients),
		ConfigMaps:              writer,
		Tracker:                 refresh.NewTracker(clk),
		Events:                  mgr.GetEventRecorder("statsig-operator"),
		Clock:                   clk,
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}).SetupWithManager(mgr, defaultSecret); err != nil {
		return fmt.Errorf("set up GateCheck controller: %w", err)
	}
	return nil
}
