package statsig_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
)

func TestIdenticalConcurrentReadsShareOneCall(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.SetConfig("pricing", map[string]any{"tier": "gold"})
	h.srv.SetLayer("checkout_layer", map[string]any{"step": 2}, "")
	resumeConfigs := h.srv.Pause(statsig.EndpointGetConfig)
	resumeLayers := h.srv.Pause(statsig.EndpointGetLayer)
	client := h.server()
	other := statsig.User{UserID: "shop-staging"}

	type read struct {
		user statsig.User
		opts statsig.ReadOptions
	}
	// 20 identical reads, plus one per thing that must keep a read apart: another user, exposures.
	reads := make([]read, 20)
	for i := range reads {
		reads[i] = read{user: testUser}
	}
	reads = append(reads, read{user: other}, read{user: testUser, opts: statsig.ReadOptions{LogExposures: true}})

	var wg sync.WaitGroup
	configs := make([]statsig.ConfigResult, len(reads))
	layers := make([]statsig.LayerResult, len(reads))
	errs := make([]error, 2*len(reads))
	for i, r := range reads {
		wg.Go(func() { configs[i], errs[2*i] = client.GetConfig(context.Background(), r.user, "pricing", r.opts) })
		wg.Go(func() {
			layers[i], errs[2*i+1] = client.GetLayer(context.Background(), r.user, "checkout_layer", r.opts)
		})
	}
	g.Eventually(client.WaitingReaders).Should(Equal(2 * len(reads)))
	resumeConfigs()
	resumeLayers()
	wg.Wait()
	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(3), "one call per distinct (user, config, exposure setting)")
	g.Expect(h.srv.Count(statsig.EndpointGetLayer)).To(Equal(3))
	for i := range reads {
		g.Expect(configs[i].Value).To(MatchJSON(`{"tier":"gold"}`))
		g.Expect(layers[i].Value).To(MatchJSON(`{"step":2}`))
	}
	// Each reader owns its value.
	configs[0].Value[2] = 'X'
	g.Expect(json.Valid(configs[1].Value)).To(BeTrue())

	// Nothing is kept after the call: a value changed in Statsig is seen by the next read.
	h.srv.SetConfig("pricing", map[string]any{"tier": "silver"})
	res, err := client.GetConfig(context.Background(), testUser, "pricing", statsig.ReadOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Value).To(MatchJSON(`{"tier":"silver"}`))
	g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(4))
}

func TestReadsOfDifferentKeysAreNeverShared(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.SetConfig("pricing", map[string]any{"tier": "gold"})
	second := "secret-second-key-0123456789"
	h.srv.AddKey(second)
	resume := h.srv.Pause(statsig.EndpointGetConfig)
	a, b := h.server(), h.pool.ForKey(second)
	var wg sync.WaitGroup
	for _, c := range []*statsig.Client{a, a, b, b} {
		wg.Go(func() {
			_, err := c.GetConfig(context.Background(), testUser, "pricing", statsig.ReadOptions{})
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
	g.Eventually(func() int { return a.WaitingReaders() + b.WaitingReaders() }).Should(Equal(4))
	resume()
	wg.Wait()
	reqs := h.srv.Requests(statsig.EndpointGetConfig)
	g.Expect(reqs).To(HaveLen(2))
}

func TestSharedReadSurvivesOneReaderLeaving(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.srv.SetConfig("pricing", map[string]any{"tier": "gold"})
	resume := h.srv.Pause(statsig.EndpointGetConfig)
	defer resume()
	client := h.server()
	ctx, cancel := context.WithCancel(context.Background())
	leaver := make(chan error, 1)
	go func() {
		_, err := client.GetConfig(ctx, testUser, "pricing", statsig.ReadOptions{})
		leaver <- err
	}()
	stayer := make(chan statsig.ConfigResult, 1)
	go func() {
		r, _ := client.GetConfig(context.Background(), testUser, "pricing", statsig.ReadOptions{})
		stayer <- r
	}()
	g.Eventually(client.WaitingReaders).Should(Equal(2))
	cancel()
	g.Eventually(leaver).Should(Receive(MatchError(context.Canceled)))
	resume()
	var r statsig.ConfigResult
	g.Eventually(stayer).Should(Receive(&r))
	g.Expect(r.Value).To(MatchJSON(`{"tier":"gold"}`))
	g.Expect(h.srv.Count(statsig.EndpointGetConfig)).To(Equal(1))
}
