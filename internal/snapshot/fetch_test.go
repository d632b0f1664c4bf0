package snapshot

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

func newClients(t *testing.T, fake *statsigtest.Server) (*statsig.Client, *statsig.Client) {
	t.Helper()
	opts := fake.Options()
	opts.BaseBackoff, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
	opts.ListPageSize = 2
	clients, err := statsig.NewClients(opts)
	if err != nil {
		t.Fatal(err)
	}
	return clients.ForKey(fake.ServerKey), clients.ForKey(fake.ConsoleKey)
}

var user = statsig.User{UserID: "shop-prod"}

func TestFetchCallsEachEntityOnce(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	fake.SetGate("new_checkout", true)
	fake.SetGate("dark_mode", false)
	fake.SetConfig("checkout_settings", map[string]any{"max_items": 5})
	fake.SetConfig("pricing", map[string]any{"tier": "gold"})
	fake.SetExperiment("button_color_test", "Test", map[string]any{"color": "blue"})
	fake.SetLayer("checkout_layer", map[string]any{"steps": 2}, "button_color_test")
	ev, _ := newClients(t, fake)

	for _, logExposures := range []bool{false, true} {
		fake.ResetCounts()
		req := Request{
			Gates: []string{"new_checkout", "dark_mode", "new_checkout"}, DynamicConfigs: []string{"checkout_settings", "pricing"},
			Experiments: []string{"button_color_test"}, Layers: []string{"checkout_layer"},
			Options: statsig.ReadOptions{LogExposures: logExposures},
		}
		v, err := Fetcher{}.Fetch(context.Background(), ev, nil, user, req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(v.Count()).To(Equal(6))
		g.Expect(v.Gates).To(HaveKeyWithValue("new_checkout", HaveField("Value", BeTrue())))
		g.Expect(string(v.DynamicConfigs["pricing"].Value)).To(MatchJSON(`{"tier":"gold"}`))
		g.Expect(v.Experiments["button_color_test"].GroupName).To(Equal("Test"))
		g.Expect(string(v.Layers["checkout_layer"].Value)).To(MatchJSON(`{"steps":2}`))

		g.Expect(fake.Count(statsig.EndpointCheckGate)).To(Equal(1), "gates go out in one batched call")
		g.Expect(fake.Count(statsig.EndpointGetConfig)).To(Equal(3))
		g.Expect(fake.Count(statsig.EndpointGetLayer)).To(Equal(1))
		for _, e := range []string{statsig.EndpointCheckGate, statsig.EndpointGetConfig, statsig.EndpointGetLayer} {
			for _, r := range fake.Requests(e) {
				g.Expect(r.ExposureLoggingDisabled()).To(Equal(!logExposures), e)
			}
		}
	}
	g.Expect(fake.Violations()).To(BeEmpty())
}

func TestFetchBoundsConcurrency(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	ev, _ := newClients(t, fake)
	var names []string
	for i := range 20 {
		n := fmt.Sprintf("config_%02d", i)
		fake.SetConfig(n, map[string]any{"i": i})
		names = append(names, n)
	}
	resume := fake.Pause(statsig.EndpointGetConfig)
	done := make(chan error, 1)
	go func() {
		_, err := Fetcher{Concurrency: 4}.Fetch(context.Background(), ev, nil, user, Request{DynamicConfigs: names})
		done <- err
	}()
	// Paused requests are counted on arrival: exactly the bound is in flight, and no more follow.
	g.Eventually(func() int { return fake.Count(statsig.EndpointGetConfig) }, 5*time.Second, 5*time.Millisecond).Should(Equal(4))
	g.Consistently(func() int { return fake.Count(statsig.EndpointGetConfig) }, 300*time.Millisecond, 10*time.Millisecond).Should(Equal(4))
	resume()
	g.Eventually(done, 5*time.Second).Should(Receive(BeNil()))
	g.Expect(fake.Count(statsig.EndpointGetConfig)).To(Equal(20))
}

func TestFetchDiscoversEveryPageByID(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	ev, lister := newClients(t, fake)
	var entities []statsig.Entity
	for i := range 5 {
		id := fmt.Sprintf("gate_%d", i)
		fake.SetGate(id, i%2 == 0)
		entities = append(entities, statsig.Entity{ID: id, Name: fmt.Sprintf("Gate number %d", i)})
	}
	fake.SetEntities(statsig.EntityGates, entities)
	fake.SetPageSize(2)

	v, err := Fetcher{}.Fetch(context.Background(), ev, lister, user, Request{Gates: []string{"gate_1", "named_only"}, Discover: Kinds{Gates: true}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.Gates).To(HaveLen(6), "five discovered by id plus one named, without duplicates")
	g.Expect(v.Gates).To(HaveKey("gate_4"))
	g.Expect(v.Gates).NotTo(HaveKey("Gate number 4"))
	var pages []string
	for _, r := range fake.Requests(statsig.EndpointListGates) {
		pages = append(pages, r.Query.Get("page"))
		g.Expect(r.Key()).To(Equal(fake.ConsoleKey))
	}
	g.Expect(pages).To(Equal([]string{"1", "2", "3"}))
	g.Expect(fake.Count(statsig.EndpointListDynamicConfigs)).To(BeZero(), "only the kinds asked for are listed")
}

func TestFetchLayerNotFound(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	ev, lister := newClients(t, fake)
	fake.SetLayer("kept", map[string]any{"a": 1}, "")
	// Listed by the Console but gone by the time it is evaluated: it has left, not failed.
	fake.SetEntities(statsig.EntityLayers, []statsig.Entity{{ID: "kept"}, {ID: "deleted_meanwhile"}})
	v, err := Fetcher{}.Fetch(context.Background(), ev, lister, user, Request{Discover: Kinds{Layers: true}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v.Layers).To(HaveLen(1))
	g.Expect(v.Layers).To(HaveKey("kept"))

	// A layer the spec names must exist.
	_, err = Fetcher{}.Fetch(context.Background(), ev, lister, user, Request{Layers: []string{"missing"}})
	g.Expect(err).To(HaveOccurred())
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassNotFound))
}

func TestFetchIsAllOrNothing(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	ev, _ := newClients(t, fake)
	fake.SetGate("new_checkout", true)
	fake.SetConfig("a_config", map[string]any{"a": 1})
	fake.Fault(statsig.EndpointGetConfig, statsigtest.Fault{Status: 401})
	v, err := Fetcher{}.Fetch(context.Background(), ev, nil, user, Request{Gates: []string{"new_checkout"}, DynamicConfigs: []string{"a_config"}})
	g.Expect(v).To(BeNil())
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
	g.Expect(err.Error()).NotTo(ContainSubstring(fake.ServerKey))
}
