package main

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/controllers"
	"github.com/statsig-operator/statsig-operator/internal/leaderlabel"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/webhook"
)

// setupWebhookReceiver wires the WebhookReceiver controller and its listener.
func setupWebhookReceiver(mgr ctrl.Manager, opts *options.Options, s *shared) error {
	table := &webhook.Table{}
	r := &controllers.WebhookReceiverReconciler{
		Client:           mgr.GetClient(),
		Credentials:      s.Credentials,
		Secrets:          s.Secrets,
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
	if l := webhookLeaderLabeler(mgr, os.Getenv); l != nil {
		if err := mgr.Add(l); err != nil {
			return fmt.Errorf("add webhook leader labeler: %w", err)
		}
	}
	return nil
}

// webhookLeaderLabeler returns the Runnable that labels the leader's Pod for the webhook Service,
// or nil when the Pod is unknown (POD_NAME or POD_NAMESPACE unset: `make run`, tests), since then
// there is no Pod to label.
func webhookLeaderLabeler(mgr ctrl.Manager, getenv func(string) string) *leaderlabel.Labeler {
	log := ctrl.Log.WithName("webhook-leader")
	name, ns := getenv("POD_NAME"), getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		log.Info("POD_NAME or POD_NAMESPACE unset: not labeling the leader's Pod for the webhook Service")
		return nil
	}
	return &leaderlabel.Labeler{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: ns, Name: name, Log: log}
}
