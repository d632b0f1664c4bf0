package realcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

const (
	webhookNS      = "journey-i"
	webhookPort    = "9292"
	webhookService = "statsig-operator-webhook"
)

// (i) A WebhookReceiver: a signed statsig::config_change event, POSTed through the webhook Service
// (which routes to the elected leader), brings a changed value to the ConfigMap and to new pods
// without a requested-at bump. The snapshot refreshes only hourly, so nothing but the event can
// bring the change within the wait.
func (s *suite) journeyWebhook(t *testing.T) {
	const ns = webhookNS
	wl := s.images[workloadImageTar]
	signing := make([]byte, 24)
	_, _ = rand.Read(signing)
	secret := "whsec-" + hex.EncodeToString(signing)
	s.fake.SetConfig("i_config", map[string]any{"v": "1"})
	fatalIf(t, s.apply(namespaceYAML(ns, ""), fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: statsig, namespace: %s}
stringData: {%s: %q, %s: %q, %s: %q}
`, ns, statsigv1alpha1.SecretKeyServer, s.fake.ServerKey, statsigv1alpha1.SecretKeyConsole, s.fake.ConsoleKey,
		statsigv1alpha1.SecretKeyWebhookSigning, secret),
		snapshotYAML(ns, "snap", "Env", "i-env", "i_gate", "i_config", "app")+"  refreshIntervalSeconds: 3600\n",
		workloadYAML(wl, ns, "app", "i-env", ""),
		fmt.Sprintf(`apiVersion: statsig-operator.io/v1alpha1
kind: WebhookReceiver
metadata: {name: statsig, namespace: %s}
spec:
  secretRef: {name: statsig}
`, ns)))
	_, err := s.waitPods(podWait, ns, "app", envIs("STATSIG_CONFIG_I_CONFIG_V", "1"))
	fatalIf(t, err)
	fatalIf(t, s.waitSteady(ns, "snap"))

	var path string
	fatalIf(t, waitFor(podWait, "WebhookReceiver Ready with a webhookPath", func() error {
		var r statsigv1alpha1.WebhookReceiver
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "statsig"}, &r); err != nil {
			return err
		}
		c := meta.FindStatusCondition(r.Status.Conditions, statsigv1alpha1.ConditionReady)
		if r.Status.WebhookPath == "" || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("webhookPath %q, Ready %+v", r.Status.WebhookPath, c)
		}
		path = r.Status.WebhookPath
		return nil
	}))
	url, err := s.webhookURL(path)
	fatalIf(t, err)

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: s.ns.DialContext}}
	change := statsigtest.ChangeBody(statsigtest.WebhookEvent{Type: "DynamicConfig", Name: "i_config", Action: "updated"})
	// A request signed with another secret is refused.
	code, body, err := statsigtest.SendWebhook(context.Background(), hc, statsigtest.Webhook{URL: url, Secret: secret + "-wrong", Body: change})
	fatalIf(t, err)
	if code != http.StatusUnauthorized {
		t.Fatalf("a request with a wrong signature answered %d, want 401: %s", code, body)
	}

	s.fake.SetConfig("i_config", map[string]any{"v": "2"})
	start := time.Now()
	code, body, err = statsigtest.SendWebhook(context.Background(), hc, statsigtest.Webhook{URL: url, Secret: secret, Body: change})
	fatalIf(t, err)
	if code != http.StatusOK {
		t.Fatalf("webhook answered %d: %s", code, body)
	}
	s.timed(t, start, podWait, map[string]func() error{
		"webhook-configmap": func() error {
			return waitFor(podWait, "ConfigMap "+ns+"/i-env with the new value", func() error {
				var cm corev1.ConfigMap
				if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "i-env"}, &cm); err != nil {
					return err
				}
				if v := cm.Data["STATSIG_CONFIG_I_CONFIG_V"]; v != "2" {
					return fmt.Errorf("STATSIG_CONFIG_I_CONFIG_V=%q", v)
				}
				return nil
			})
		},
		"webhook-pod": func() error {
			_, err := s.waitPods(podWait, ns, "app", envIs("STATSIG_CONFIG_I_CONFIG_V", "2"))
			return err
		},
	})
	cs, err := s.snapshot(ns, "snap")
	fatalIf(t, err)
	if v, ok := cs.Annotations[statsigv1alpha1.AnnotationRequestedAt]; ok {
		t.Errorf("the snapshot carries %s=%q: the webhook must sync without writing the annotation", statsigv1alpha1.AnnotationRequestedAt, v)
	}
	fatalIf(t, waitFor(podWait, "the receiver's status counts the accepted and the rejected request", func() error {
		var r statsigv1alpha1.WebhookReceiver
		if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "statsig"}, &r); err != nil {
			return err
		}
		if r.Status.AcceptedRequests < 1 || r.Status.RejectedRequests < 1 || r.Status.LastEventTime == nil {
			return fmt.Errorf("acceptedRequests %d, rejectedRequests %d, lastEventTime %v", r.Status.AcceptedRequests, r.Status.RejectedRequests, r.Status.LastEventTime)
		}
		return nil
	}))
}

// webhookURL is the address of path behind the operator's webhook Service. There is no kube-proxy,
// so the test resolves the Service as kube-proxy would, through its EndpointSlices: only the elected
// leader listens and labels its Pod for the Service, so the one ready endpoint must be the pod
// holding the Lease.
func (s *suite) webhookURL(path string) (string, error) {
	var addr string
	err := waitFor(podWait, "the webhook Service routing to the leader", func() error {
		leader, err := s.leader()
		if err != nil {
			return err
		}
		var eps discoveryv1.EndpointSliceList
		if err := s.client.List(context.Background(), &eps, client.InNamespace(operatorNS),
			client.MatchingLabels{discoveryv1.LabelServiceName: webhookService}); err != nil {
			return err
		}
		var ready []string
		for _, sl := range eps.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || ep.TargetRef == nil || len(ep.Addresses) == 0 {
					continue
				}
				ready = append(ready, ep.TargetRef.Name)
				addr = ep.Addresses[0]
			}
		}
		if len(ready) != 1 || ready[0] != leader {
			return fmt.Errorf("ready endpoints %v, leader %s", ready, leader)
		}
		return nil
	})
	return "http://" + net.JoinHostPort(addr, webhookPort) + path, err
}
