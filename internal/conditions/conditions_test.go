package conditions

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
)

// TestHealthConditions: each outcome leaves exactly the kstatus conditions the contract names.
func TestHealthConditions(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name                 string
		failure              *Failure
		reconciling, stalled string // reasons; "" when the condition must be absent
	}{
		{"synced", nil, "", ""},
		{"transient", &Failure{Reason: statsigv1alpha1.ReasonStatsigUnavailable, Transient: true}, statsigv1alpha1.ReasonProgressingWithRetry, ""},
		{"rate limited", &Failure{Reason: statsigv1alpha1.ReasonStatsigRateLimited, Transient: true}, statsigv1alpha1.ReasonProgressingWithRetry, ""},
		{"permanent but retried at the refresh", Permanent(statsigv1alpha1.ReasonConfigMapTooLarge, "x"), statsigv1alpha1.ReasonProgressingWithRetry, ""},
	}
	for _, r := range statsigv1alpha1.StalledReasons {
		cases = append(cases, struct {
			name                 string
			failure              *Failure
			reconciling, stalled string
		}{r, Permanent(r, "fix me"), "", r})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := &statsigv1alpha1.CommonStatus{}
			// Start from the opposite state, so that every condition must be set or removed.
			MarkFailed(s, 1, now.Add(-time.Hour), Permanent(statsigv1alpha1.ReasonInvalidSpec, "old"))
			MarkFailed(s, 1, now.Add(-time.Hour), &Failure{Reason: statsigv1alpha1.ReasonStatsigUnavailable, Transient: true})
			meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: statsigv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old"})
			if tc.failure == nil {
				MarkSynced(s, 2, now, "ok")
			} else {
				MarkFailed(s, 2, now, tc.failure)
			}
			reason := func(typ string) string {
				if c := meta.FindStatusCondition(s.Conditions, typ); c != nil && c.Status == metav1.ConditionTrue {
					return c.Reason
				}
				return ""
			}
			g.Expect(reason(statsigv1alpha1.ConditionReconciling)).To(Equal(tc.reconciling))
			g.Expect(reason(statsigv1alpha1.ConditionStalled)).To(Equal(tc.stalled))
			if tc.reconciling != "" {
				// Failing since the first failure an hour ago, not since now.
				g.Expect(meta.FindStatusCondition(s.Conditions, statsigv1alpha1.ConditionReconciling).Message).To(
					ContainSubstring(now.Add(-time.Hour).Format(time.RFC3339)))
			}
		})
	}
}
