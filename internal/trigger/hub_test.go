package trigger

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestHubCoalescesABurstIntoOneRequestPerResource(t *testing.T) {
	g := NewWithT(t)
	secret := types.NamespacedName{Namespace: "shop", Name: "statsig"}
	var listedFor []types.NamespacedName
	hub := &Hub{Window: 200 * time.Millisecond}
	sub := hub.Subscribe("GateCheck", func(_ context.Context, s types.NamespacedName) ([]Uses, error) {
		listedFor = append(listedFor, s)
		return []Uses{
			{Key: key("a"), Names: map[Kind][]string{Gate: {"new_checkout"}}},
			{Key: key("b"), Names: map[Kind][]string{Gate: {"dark_mode"}}},
		}, nil
	})
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	g.Expect(sub.Source().Start(context.Background(), q)).To(Succeed())

	for range 10 {
		n, err := hub.Trigger(context.Background(), secret, []Entity{{Kinds: []Kind{Gate}, Name: "new_checkout"}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n).To(Equal(1))
	}
	g.Expect(listedFor).To(HaveEach(secret))
	g.Expect(q.Len()).To(BeZero(), "nothing before the window ends")
	g.Eventually(q.Len, 5*time.Second, 10*time.Millisecond).Should(Equal(1))
	item, _ := q.Get()
	g.Expect(item.NamespacedName).To(Equal(key("a")))
	q.Done(item)
	g.Consistently(q.Len, 400*time.Millisecond, 20*time.Millisecond).Should(BeZero())

	g.Expect(sub.Take(key("a"))).To(BeTrue())
	g.Expect(sub.Take(key("a"))).To(BeFalse(), "taken once")
	g.Expect(sub.Take(key("b"))).To(BeFalse())
	var none *Subscription
	g.Expect(none.Take(key("a"))).To(BeFalse())
}
