package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/credentials"
	"github.com/statsig-operator/statsig-operator/internal/metrics"
	"github.com/statsig-operator/statsig-operator/internal/options"
	"github.com/statsig-operator/statsig-operator/internal/secretwatch"
	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/trigger"
)

// shared is what every controller's setup may use.
type shared struct {
	Clients     *statsig.Clients
	Credentials *credentials.Resolver
	// Secrets watches Secret metadata in the namespaces where resources read Secrets.
	Secrets       *secretwatch.Watcher
	ConfigMaps    *configmap.Writer
	DefaultSecret types.NamespacedName
	Clock         clock.Clock
	// Triggers carries WebhookReceiver events to the controllers whose resources they affect.
	Triggers *trigger.Hub
}

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
	meta, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	secrets := secretwatch.New(meta, opts.WatchNamespaceList(), credentials.TransformSecretMetadata())
	if err := mgr.Add(secrets); err != nil {
		return fmt.Errorf("add the Secret watcher: %w", err)
	}
	creds := &credentials.Resolver{Reader: mgr.GetAPIReader(), Versions: secrets, Namespaces: mgr.GetClient(),
		DefaultSecret: defaultSecret, TrustedNamespaces: trusted}
	writer, err := configmap.NewWriter(context.Background(), mgr)
	if err != nil {
		return err
	}
	s := &shared{Clients: clients, Credentials: creds, Secrets: secrets, ConfigMaps: writer, DefaultSecret: defaultSecret, Clock: clock.RealClock{},
		Triggers: &trigger.Hub{}}
	// Every kind, wired explicitly: adding a kind adds a line here.
	for _, setup := range []func(ctrl.Manager, *options.Options, *shared) error{
		setupGateCheck, setupSnapshots, setupDailyReportExport, setupWebhookReceiver,
	} {
		if err := setup(mgr, opts, s); err != nil {
			return err
		}
	}
	return nil
}
