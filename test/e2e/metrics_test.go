package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

// By default the binary serves metrics over HTTPS, only to callers that the API server
// authenticates and authorizes for GET /metrics: the metrics-reader ClusterRole from config/rbac
// is what a scraper needs, and the operator needs only its generated ClusterRole to ask.
func TestBinaryServesMetricsOnlyToAuthorizedCallers(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	const opNS = "metrics-operator"
	rbacNamespace(t, opNS, nil)
	op := startOperatorAs(t, restrictedKubeconfig(t, "statsig-operator-metrics", opNS), fake, "--metrics-secure=true")

	ns := rbacNamespace(t, "metrics-scrapers", nil)
	reader := &rbacv1.ClusterRole{}
	readRBAC(t, "metrics_reader_role.yaml", "ClusterRole", reader)
	create(t, reader)
	for _, sa := range []string{"prometheus", "stranger"} {
		create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})
	}
	create(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-scrapers-prometheus"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	})

	url := "https://" + op.metrics + "/metrics"
	// The metrics server starts with the manager, after the probes: wait for it. A caller without a
	// token is refused.
	g.Eventually(func() (scrapeResult, error) { return scrape(url, "") }, 30*time.Second, 200*time.Millisecond).
		Should(HaveField("Code", http.StatusUnauthorized))
	// Plain HTTP is not served.
	_, err := fetch("http://" + op.metrics + "/metrics")
	g.Expect(err).To(MatchError(ContainSubstring("400 Bad Request")))
	g.Expect(scrape(url, token(t, ns, "stranger"))).To(HaveField("Code", http.StatusForbidden))
	allowed := token(t, ns, "prometheus")
	g.Eventually(func() (scrapeResult, error) { return scrape(url, allowed) }, 30*time.Second, 200*time.Millisecond).
		Should(And(HaveField("Code", http.StatusOK), HaveField("Body", ContainSubstring("controller_runtime_reconcile_total"))))
}

type scrapeResult struct {
	Code int
	Body string
}

func scrape(url, bearer string) (scrapeResult, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return scrapeResult{}, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	// The operator's certificate is self-signed at start, as scrapers of kubebuilder operators expect.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed loopback test server
	}}
	resp, err := c.Do(req)
	if err != nil {
		return scrapeResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return scrapeResult{Code: resp.StatusCode, Body: string(b)}, err
}

// token asks the API server for a short-lived token of a ServiceAccount.
func token(t *testing.T, ns, sa string) string {
	t.Helper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
	acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	if err := k8s.SubResource("token").Create(context.Background(), acct, tr); err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	if tr.Status.Token == "" {
		t.Fatalf("empty token for %s/%s", ns, sa)
	}
	return tr.Status.Token
}
