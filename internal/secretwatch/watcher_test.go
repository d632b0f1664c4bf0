package secretwatch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func secret(ns, name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "shop"}},
	}
}

func newFake(objs ...*metav1.PartialObjectMetadata) *metadatafake.FakeMetadataClient {
	scheme := metadatafake.NewTestScheme()
	_ = metav1.AddMetaToScheme(scheme)
	in := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		in = append(in, o)
	}
	return metadatafake.NewSimpleMetadataClient(scheme, in...)
}

// seen records the Secret events a controller would get.
type seen struct {
	mu     sync.Mutex
	events []string
}

func (s *seen) add(kind string, o client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, kind+" "+o.GetNamespace()+"/"+o.GetName())
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *seen) handler() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			s.add("create", e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			s.add("update", e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			s.add("delete", e.Object)
		},
	}
}

// start runs w and a source feeding the returned recorder until the test ends.
func start(t *testing.T, w *Watcher) *seen {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Start(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	s := &seen{}
	if err := w.Source(s.handler()).Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

const wait, poll = 5 * time.Second, 10 * time.Millisecond

// A namespace is watched from its first user to its last, whichever users come and go, and only
// while the Watcher runs; empty and disallowed namespaces are never watched.
func TestWatcherCountsUsersPerNamespace(t *testing.T) {
	g := NewWithT(t)
	w := New(newFake(), []string{"a", "b"}, nil)

	w.Use("GateCheck/a/one", []string{"a", "", "a"})
	w.Use("GateCheck/c/one", []string{"c"})
	g.Expect(w.Namespaces()).To(BeEmpty(), "nothing runs before Start")

	start(t, w)
	g.Eventually(w.Namespaces, wait, poll).Should(Equal([]string{"a"}), "c is outside --watch-namespaces")

	w.Use("ConfigSnapshot/a/two", []string{"a"})
	w.Release("GateCheck/a/one")
	g.Expect(w.Namespaces()).To(Equal([]string{"a"}), "two still reads a Secret in a")

	w.Use("ConfigSnapshot/a/two", []string{"b"})
	g.Expect(w.Namespaces()).To(Equal([]string{"b"}), "two moved to b, and nobody reads in a")

	w.Use("DailyReportExport/b/three", []string{"b", "a"})
	g.Expect(w.Namespaces()).To(Equal([]string{"a", "b"}))
	w.Release("DailyReportExport/b/three")
	w.Release("ConfigSnapshot/a/two")
	w.Release("GateCheck/c/one")
	w.Release("never/used")
	g.Expect(w.Namespaces()).To(BeEmpty())
	g.Expect(w.count).To(BeEmpty())
	g.Expect(w.users).To(BeEmpty())
}

// Users come and go from many goroutines (as the kinds' informers call): the counts end where they
// should.
func TestWatcherCountsConcurrentUsers(t *testing.T) {
	g := NewWithT(t)
	w := New(newFake(), nil, nil)
	start(t, w)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "GateCheck/x/" + string(rune('a'+i))
			for range 50 {
				w.Use(user, []string{"x", "y"})
				w.Use(user, []string{"y"})
			}
			if i%2 == 0 {
				w.Release(user)
			}
		}()
	}
	wg.Wait()
	g.Expect(w.Namespaces()).To(Equal([]string{"y"}))
	g.Expect(w.count).To(Equal(map[string]int{"y": 4}))
}

// A watched namespace reports the Secrets it already holds as created, then changes and deletions;
// another namespace's Secrets are neither reported nor held. SecretVersion knows only the watched
// namespace, and the stored copies carry no labels.
func TestWatcherFeedsSourcesFromWatchedNamespaces(t *testing.T) {
	g := NewWithT(t)
	c := newFake(secret("a", "statsig"), secret("other", "unrelated"))
	transform := func(in any) (any, error) {
		if o, ok := in.(*metav1.PartialObjectMetadata); ok {
			o.Labels = nil
		}
		return in, nil
	}
	w := New(c, nil, transform)
	s := start(t, w)

	_, known := w.SecretVersion(types.NamespacedName{Namespace: "a", Name: "statsig"})
	g.Expect(known).To(BeFalse(), "a is not watched yet")

	w.Use("GateCheck/a/one", []string{"a"})
	g.Eventually(s.list, wait, poll).Should(Equal([]string{"create a/statsig"}))
	g.Eventually(func() bool {
		_, known := w.SecretVersion(types.NamespacedName{Namespace: "a", Name: "statsig"})
		return known
	}, wait, poll).Should(BeTrue())
	v, _ := w.SecretVersion(types.NamespacedName{Namespace: "a", Name: "missing"})
	g.Expect(v).To(BeEmpty(), "a Secret that does not exist")

	secrets := c.Resource(secrets)
	_, err := secrets.Namespace("a").(metadatafake.MetadataClient).CreateFake(secret("a", "new"), metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = secrets.Namespace("other").(metadatafake.MetadataClient).CreateFake(secret("other", "new"), metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(secrets.Namespace("a").Delete(context.Background(), "statsig", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(s.list, wait, poll).Should(Equal([]string{"create a/statsig", "create a/new", "delete a/statsig"}))

	w.mu.Lock()
	held := w.informers["a"].informer.GetStore().List()
	w.mu.Unlock()
	g.Expect(held).To(HaveLen(1))
	g.Expect(held[0].(*metav1.PartialObjectMetadata).Labels).To(BeEmpty())

	w.Release("GateCheck/a/one")
	_, known = w.SecretVersion(types.NamespacedName{Namespace: "a", Name: "new"})
	g.Expect(known).To(BeFalse(), "a is not watched any more")
}

// A source that starts after a namespace is watched gets its Secrets too, as created.
func TestWatcherReplaysToLateSources(t *testing.T) {
	g := NewWithT(t)
	w := New(newFake(secret("a", "statsig")), nil, nil)
	first := start(t, w)
	w.Use("GateCheck/a/one", []string{"a"})
	g.Eventually(first.list, wait, poll).Should(Equal([]string{"create a/statsig"}))

	late := &seen{}
	g.Expect(w.Source(late.handler()).Start(context.Background(), nil)).To(Succeed())
	g.Eventually(late.list, wait, poll).Should(Equal([]string{"create a/statsig"}))
}
