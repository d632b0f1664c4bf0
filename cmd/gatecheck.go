package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/refresh"
)

// setupGateCheck wires the GateCheck controller.
func setupGateCheck(mgr ctrl.Manager, opts *options.Options, s *shared) error {
	if err := (&controllers.GateCheckReconciler{
		Client:                  mgr.GetClient(),
		Credentials:             s.Credentials,
		Secrets:                 s.Secrets,
		Gates:                   controllers.GateCheckerFor(s.Clients),
		ConfigMaps:              s.ConfigMaps,
		Outputs:                 &configmap.Outputs{},
		Tracker:                 refresh.NewTracker(s.Clock),
		Events:                  mgr.GetEventRecorder("statsig-operator"),
		Clock:                   s.Clock,
		Triggers:                s.Triggers,
		MaxConcurrentReconciles: opts.MaxConcurrentSyncs,
	}).SetupWithManager(mgr, s.DefaultSecret); err != nil {
		return fmt.Errorf("set up GateCheck controller: %w", err)
	}
	if err := ctrlmetrics.Registry.Register(&controllers.GateValueCollector{Reader: mgr.GetCache(), Elected: mgr.Elected()}); err != nil {
		return fmt.Errorf("register statsig_operator_gate_value: %w", err)
	}
	return nil
}
