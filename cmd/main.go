// Command statsig-operator runs the operator's controllers.
package main

import (
	"flag"
	"fmt"
	"os"

	// Report dates and schedules need the IANA time-zone database even in a scratch image.
	_ "time/tzdata"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/options"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(statsigv1alpha1.AddToScheme(scheme))
}

func main() {
	opts := &options.Options{}
	opts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "statsig-operator: invalid flags:\n%v\n", err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := run(opts); err != nil {
		ctrl.Log.Error(err, "Operator stopped")
		os.Exit(1)
	}
}

func run(opts *options.Options) error {
	log := ctrl.Log.WithName("setup")
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	// controller-runtime's 20 per second would make a first sync of 1,000 GateChecks (a ConfigMap
	// and a status each) take well over a minute of client-side waiting.
	cfg.QPS, cfg.Burst = float32(opts.KubeAPIQPS), opts.KubeAPIBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(opts),
		HealthProbeBindAddress:  opts.ProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          opts.LeaderElect,
		LeaderElectionID:        "statsig-operator.statsig-operator.io",
		LeaderElectionNamespace: opts.LeaderElectNamespace,
		// A stopping leader gives the lease up at once, so that a rollout of the operator does not
		// wait out the lease; safe because the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(opts),
		Client: client.Options{Cache: &client.CacheOptions{
			// Secrets are read straight from the API server and never cached whole.
			DisableFor: []client.Object{&corev1.Secret{}},
		}},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := setupControllers(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	log.Info("Starting manager", "statsigAPIURL", opts.StatsigAPIURL, "watchNamespaces", opts.WatchNamespaceList())
	return mgr.Start(ctrl.SetupSignalHandler())
}

// The metrics filter asks the API server who a scraper is and whether it may GET /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsOptions serves metrics over HTTPS to authenticated and authorized callers only (a
// ServiceAccount token bound to the statsig-operator-metrics-reader ClusterRole, as Prometheus
// uses). The certificate is self-signed and made at start; scrapers skip its verification, as
// with kubebuilder's default. --metrics-secure=false is for local runs on loopback.
func metricsOptions(opts *options.Options) metricsserver.Options {
	o := metricsserver.Options{BindAddress: opts.MetricsAddr, SecureServing: opts.MetricsSecure}
	if opts.MetricsSecure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}

// cacheOptions keeps the cache to what the operator reads: ConfigMaps only when they carry the
// managed-by label, so that unrelated ConfigMaps cost nothing; no Secrets at all (their metadata is
// watched by the Secret watcher, only where resources read Secrets); and no managed fields or
// kubectl last-applied copies on anything.
func cacheOptions(opts *options.Options) cache.Options {
	co := cache.Options{
		DefaultTransform: dropUnusedMetadata,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {
				Label: labels.SelectorFromSet(labels.Set{
					statsigv1alpha1.LabelManagedBy: statsigv1alpha1.ManagedByValue,
				}),
				Transform: dropUnusedMetadata,
			},
		},
	}
	if ns := opts.WatchNamespaceList(); len(ns) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			co.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return co
}

// dropUnusedMetadata strips what the operator never reads from a cached object: managed fields and
// the kubectl last-applied annotation, which together are often most of a small object.
func dropUnusedMetadata(in any) (any, error) {
	in, err := cache.TransformStripManagedFields()(in)
	if err != nil {
		return in, err
	}
	if obj, ok := in.(metav1.Object); ok {
		if a := obj.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				obj.SetAnnotations(a)
			}
		}
	}
	return in, nil
}
