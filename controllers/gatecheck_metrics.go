package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// gateValueDesc is statsig_operator_gate_value: 1 when a GateCheck's gate passes, 0 when not.
var gateValueDesc = prometheus.NewDesc("statsig_operator_gate_value",
	"Value of a gate for a GateCheck's user (1 passes, 0 fails).", []string{"namespace", "name", "gate"}, nil)

// GateValueCollector serves statsig_operator_gate_value from the GateChecks' status in the
// informer cache at scrape time, as kube-state-metrics does: the operator keeps no second copy of
// every gate of every GateCheck in memory, and a GateCheck that is deleted, or a gate taken out of
// its spec, leaves the metric with its status. Only the leader, whose cache holds GateChecks,
// reports; a follower's scrape shows none.
type GateValueCollector struct {
	// Reader lists GateChecks, the manager's cache.
	Reader client.Reader
	// Elected is closed once this replica leads (the manager's Elected()).
	Elected <-chan struct{}
}

// Describe sends the one descriptor.
func (c *GateValueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- gateValueDesc }

// Collect sends a sample per gate result in every GateCheck's status.
func (c *GateValueCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.Elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &statsigv1alpha1.GateCheckList{}
	// The objects are only read, never kept or changed: no deep copy of each.
	if err := c.Reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "List GateChecks for statsig_operator_gate_value")
		return
	}
	for i := range list.Items {
		gc := &list.Items[i]
		for _, r := range gc.Status.Results {
			v := 0.0
			if r.Value {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(gateValueDesc, prometheus.GaugeValue, v, gc.Namespace, gc.Name, r.Name)
		}
	}
}
