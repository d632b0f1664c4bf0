package options

import (
	"flag"
	"io"
	"testing"

	. "github.com/onsi/gomega"
)

func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	o := &Options{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.Validate()
}

func TestDefaultsAreValid(t *testing.T) {
	g := NewWithT(t)
	o, err := parse(t)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.StatsigAPIURL).To(Equal("https://api.statsig.com"))
	g.Expect(o.StatsigEventsURL).To(Equal("https://events.statsigapi.net"))
	g.Expect(o.StatsigConsoleURL).To(Equal("https://statsigapi.net"))
	sel, err := o.TrustedNamespaceSelector()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sel.Empty()).To(BeFalse(), "an empty flag must trust no namespace, not every namespace")
	g.Expect(o.WatchNamespaceList()).To(BeEmpty())
	g.Expect(o.WebhookAddr).To(Equal(":9292"))
	g.Expect(o.MetricsAddr).To(Equal(":8443"))
	g.Expect(o.MetricsSecure).To(BeTrue(), "metrics must be served securely unless a local run says otherwise")
}

func TestValidFlags(t *testing.T) {
	g := NewWithT(t)
	o, err := parse(t,
		"--default-secret=statsig-system/statsig",
		"--default-secret-namespaces=statsig-operator.io/trusted=true",
		"--watch-namespaces=shop, analytics",
		"--statsig-api-url=http://127.0.0.1:8080",
		"--webhook-bind-address=0",
		"--metrics-bind-address=127.0.0.1:8080",
		"--metrics-secure=false",
	)
	g.Expect(err).NotTo(HaveOccurred())
	name, err := o.DefaultSecretName()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(name.String()).To(Equal("statsig-system/statsig"))
	g.Expect(o.WatchNamespaceList()).To(Equal([]string{"shop", "analytics"}))
}

func TestInvalidFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--statsig-api-url=ftp://x"}, "--statsig-api-url"},
		{[]string{"--statsig-console-url=statsigapi.net"}, "--statsig-console-url"},
		{[]string{"--statsig-events-url=https://x?y=1"}, "--statsig-events-url"},
		{[]string{"--default-secret=noslash"}, "--default-secret: want NAMESPACE/NAME"},
		{[]string{"--default-secret=a/b/c"}, "--default-secret"},
		{[]string{"--default-secret=Bad_NS/x"}, "--default-secret: namespace"},
		{[]string{"--default-secret-namespaces=a in (b"}, "--default-secret-namespaces"},
		{[]string{"--watch-namespaces=ok,Not_OK"}, "--watch-namespaces"},
		{[]string{"--statsig-qps=0"}, "--statsig-qps"},
		{[]string{"--statsig-burst=0"}, "--statsig-burst"},
		{[]string{"--statsig-max-response-bytes=10"}, "--statsig-max-response-bytes"},
		{[]string{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles"},
		{[]string{"--webhook-bind-address=9292"}, "--webhook-bind-address: want HOST:PORT"},
		{[]string{"--metrics-bind-address=localhost"}, "--metrics-bind-address: want HOST:PORT"},
		{[]string{"--max-concurrent-syncs=0"}, "--max-concurrent-syncs"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps"},
		{[]string{"--kube-api-burst=0"}, "--kube-api-burst"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			g := NewWithT(t)
			_, err := parse(t, tc.args...)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}
