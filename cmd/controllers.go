package main

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/internal/options"
)

// setupControllers registers every controller with the manager.
func setupControllers(mgr ctrl.Manager, opts *options.Options) error {
	_ = mgr
	_ = opts
	return nil
}
