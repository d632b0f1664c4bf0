// Package options holds the operator's command-line flags and their validation.
package options

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Options are the operator's settings, from flags.
type Options struct {
	MetricsAddr          string
	MetricsSecure        bool
	ProbeAddr            string
	PprofAddr            string
	WebhookAddr          string
	LeaderElect          bool
	LeaderElectNamespace string

	StatsigAPIURL     string
	StatsigEventsURL  string
	StatsigConsoleURL string

	DefaultSecret           string
	DefaultSecretNamespaces string
	WatchNamespaces         string

	StatsigQPS              float64
	StatsigBurst            int
	StatsigMaxResponseBytes int64

	KubeAPIQPS   float64
	KubeAPIBurst int

	AllowFileDestinations              bool
	AllowAmbientObjectStoreCredentials bool

	MaxConcurrentReconciles int
	MaxConcurrentSyncs      int
}

// Defaults for flags whose defaults are part of the contract.
const (
	DefaultStatsigAPIURL     = "https://api.statsig.com"
	DefaultStatsigEventsURL  = "https://events.statsigapi.net"
	DefaultStatsigConsoleURL = "https://statsigapi.net"
)

// BindFlags registers every flag on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; \"0\" disables it.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, only to callers that Kubernetes authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview). false serves plain HTTP to anyone who reaches the port: for local runs on 127.0.0.1 only.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof profiles; \"0\" disables them. Unauthenticated: bind it to 127.0.0.1 and reach it with kubectl port-forward.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	fs.StringVar(&o.LeaderElectNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's namespace).")

	fs.StringVar(&o.StatsigAPIURL, "statsig-api-url", DefaultStatsigAPIURL, "Statsig SDK HTTP API base URL (host root; /v1/... is appended).")
	fs.StringVar(&o.StatsigEventsURL, "statsig-events-url", DefaultStatsigEventsURL, "Statsig events base URL (host root).")
	fs.StringVar(&o.StatsigConsoleURL, "statsig-console-url", DefaultStatsigConsoleURL, "Statsig Console API base URL (host root; /console/v1/... is appended).")

	fs.StringVar(&o.DefaultSecret, "default-secret", "", "NAMESPACE/NAME of the default credentials Secret; empty for none.")
	fs.StringVar(&o.DefaultSecretNamespaces, "default-secret-namespaces", "", "Label selector of the namespaces trusted to use the default Secret; empty trusts none.")
	fs.StringVar(&o.WatchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty watches all.")

	fs.Float64Var(&o.StatsigQPS, "statsig-qps", 5, "Client-side rate limit per Statsig key, in requests per second.")
	fs.IntVar(&o.StatsigBurst, "statsig-burst", 10, "Client-side burst per Statsig key.")
	fs.Int64Var(&o.StatsigMaxResponseBytes, "statsig-max-response-bytes", 16<<20, "Largest Statsig API response accepted, in bytes.")

	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", 200, "Client-side rate limit of requests to the Kubernetes API server, per second. "+
		"A first sync of N resources writes about 2N objects (the output and the status); the API server's own priority and fairness still applies.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", 400, "Client-side burst of requests to the Kubernetes API server.")

	fs.BoolVar(&o.AllowFileDestinations, "allow-file-destinations", false, "Permit file:// export destinations (local runs and tests).")
	fs.BoolVar(&o.AllowAmbientObjectStoreCredentials, "allow-ambient-object-store-credentials", false, "Permit exports without a credentials Secret, using the operator's own identity.")

	fs.StringVar(&o.WebhookAddr, "webhook-bind-address", ":9292", "Address of the listener serving WebhookReceiver paths; \"0\" disables it.")

	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 16, "Reconciles run at once per kind, for kinds that do heavy work (DailyReportExport).")
	fs.IntVar(&o.MaxConcurrentSyncs, "max-concurrent-syncs", 256, "Reconciles run at once per kind for GateCheck, ConfigSnapshot and ClusterConfigSnapshot. "+
		"Their syncs mostly wait for a batched Statsig call: the more wait together, the fewer and fuller the calls (a waiting sync costs a few KiB).")
}

// Validate checks every flag and returns all problems at once.
func (o *Options) Validate() error {
	var errs []error
	for _, u := range []struct{ flag, value string }{
		{"--statsig-api-url", o.StatsigAPIURL},
		{"--statsig-events-url", o.StatsigEventsURL},
		{"--statsig-console-url", o.StatsigConsoleURL},
	} {
		if err := validateBaseURL(u.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.flag, err))
		}
	}
	if o.DefaultSecret != "" {
		if _, err := o.DefaultSecretName(); err != nil {
			errs = append(errs, fmt.Errorf("--default-secret: %w", err))
		}
	}
	if _, err := o.TrustedNamespaceSelector(); err != nil {
		errs = append(errs, fmt.Errorf("--default-secret-namespaces: %w", err))
	}
	for _, ns := range o.WatchNamespaceList() {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--watch-namespaces: %q is not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if o.StatsigQPS <= 0 {
		errs = append(errs, fmt.Errorf("--statsig-qps: must be greater than 0, got %v", o.StatsigQPS))
	}
	if o.StatsigBurst < 1 {
		errs = append(errs, fmt.Errorf("--statsig-burst: must be at least 1, got %d", o.StatsigBurst))
	}
	if o.KubeAPIQPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps: must be greater than 0, got %v", o.KubeAPIQPS))
	}
	if o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst: must be at least 1, got %d", o.KubeAPIBurst))
	}
	if o.StatsigMaxResponseBytes < 1024 {
		errs = append(errs, fmt.Errorf("--statsig-max-response-bytes: must be at least 1024, got %d", o.StatsigMaxResponseBytes))
	}
	for _, a := range []struct{ flag, value string }{
		{"--metrics-bind-address", o.MetricsAddr},
		{"--health-probe-bind-address", o.ProbeAddr},
		{"--webhook-bind-address", o.WebhookAddr},
		{"--pprof-bind-address", o.PprofAddr},
	} {
		if err := validateBindAddress(a.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.flag, err))
		}
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles: must be at least 1, got %d", o.MaxConcurrentReconciles))
	}
	if o.MaxConcurrentSyncs < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-syncs: must be at least 1, got %d", o.MaxConcurrentSyncs))
	}
	return errors.Join(errs...)
}

// DefaultSecretName parses --default-secret; the zero value means none is configured.
func (o *Options) DefaultSecretName() (types.NamespacedName, error) {
	if o.DefaultSecret == "" {
		return types.NamespacedName{}, nil
	}
	ns, name, ok := strings.Cut(o.DefaultSecret, "/")
	if !ok || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("want NAMESPACE/NAME, got %q", o.DefaultSecret)
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("namespace %q: %s", ns, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("name %q: %s", name, strings.Join(msgs, "; "))
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// TrustedNamespaceSelector parses --default-secret-namespaces. Empty trusts no namespace, so it
// returns labels.Nothing() rather than the match-everything empty selector.
func (o *Options) TrustedNamespaceSelector() (labels.Selector, error) {
	if strings.TrimSpace(o.DefaultSecretNamespaces) == "" {
		return labels.Nothing(), nil
	}
	sel, err := labels.Parse(o.DefaultSecretNamespaces)
	if err != nil {
		return nil, fmt.Errorf("not a label selector: %w", err)
	}
	return sel, nil
}

// WatchNamespaceList parses --watch-namespaces; empty means all namespaces.
func (o *Options) WatchNamespaceList() []string {
	var out []string
	for _, ns := range strings.Split(o.WatchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// validateBindAddress accepts "0" (off) or HOST:PORT with an empty host for every interface.
func validateBindAddress(addr string) error {
	if addr == "0" {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("want HOST:PORT (e.g. :9292) or 0 to turn it off, got %q", addr)
	}
	return nil
}

func validateBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("want an http(s) URL such as https://api.statsig.com, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("want a host root such as https://api.statsig.com, got %q", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not carry a query or fragment: %q", raw)
	}
	return nil
}
