package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/webhook"
)

// setupWebhookReceiver wires the WebhookReceiver controller and its listener.
func setupWebhookReceiver(mgr ctrl.Manager, opts *options.Options, s *shared) error {
	table := &webhook.Table{}
	r := &controllers.WebhookReceiverReconciler{
		Client:           mgr.GetClient(),
		Credentials:      s.Credentials,
		Table:            table,
		Triggers:         s.Triggers,
		AuditLog:         controllers.AuditLogReaderFor(s.Clients),
		Events:           mgr.GetEventRecorder("statsig-operator"),
		Clock:            s.Clock,
		ListenerDisabled: opts.WebhookAddr == "0",
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up WebhookReceiver controller: %w", err)
	}
	if opts.WebhookAddr == "0" {
		return nil
	}
	srv := &webhook.Server{Addr: opts.WebhookAddr, Table: table, Sink: r, Clock: s.Clock, Log: ctrl.Log.WithName("webhook")}
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("add webhook listener: %w", err)
	}
	return nil
}
