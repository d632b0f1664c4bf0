package bench

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	statsigv1alpha1 "github.com/statsig-operator/statsig-operator/api/v1alpha1"
	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// waitAll watches the objects of listKind in ns until want of them pass keep, and returns when
// that first held. A watch costs the API server and the harness nothing between changes, where
// listing a thousand objects every few milliseconds would take CPU from the operator it measures.
// A watch the server closes is opened again; its first events are the current state.
func waitAll(t testing.TB, listKind, ns string, want int, keep gateCheckFilter, timeout time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wc, err := client.NewWithWatch(cluster.get(t).cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	passing := map[string]bool{}
	count := func() int {
		n := 0
		for _, ok := range passing {
			if ok {
				n++
			}
		}
		return n
	}
	for ctx.Err() == nil {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(statsigv1alpha1.GroupVersion.WithKind(listKind))
		w, err := wc.Watch(ctx, list, client.InNamespace(ns))
		if err != nil {
			t.Fatalf("watch %s in %s: %v", listKind, ns, err)
		}
		if done, at := drain(w, passing, keep, count, want); done {
			return at
		}
	}
	t.Fatalf("%s in %s: %d of %d passed within %s", listKind, ns, count(), want, timeout)
	return time.Time{}
}

// drain applies a watch's events until want objects pass or the watch ends.
func drain(w watch.Interface, passing map[string]bool, keep gateCheckFilter, count func() int, want int) (bool, time.Time) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			continue // a bookmark or an error status: the watch ends after it
		}
		switch ev.Type {
		case watch.Deleted:
			delete(passing, u.GetName())
		case watch.Added, watch.Modified:
			passing[u.GetName()] = keep(*u)
		}
		if count() >= want {
			return true, time.Now()
		}
	}
	return false, time.Time{}
}

// scope is a testing.TB whose Cleanup functions run when the measurement that made it ends, not
// when the whole benchmark does: an operator, a fake or the objects of one measurement never keep
// running, refreshing and loading the API server under the next.
type scope struct {
	testing.TB
	cleanups []func()
}

// Cleanup registers f to run at the end of the measurement, last registered first.
func (s *scope) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// measure runs one measurement in its own scope.
func measure[R any](tb testing.TB, f func(t testing.TB) R) R {
	s := &scope{TB: tb}
	defer func() {
		for i := len(s.cleanups) - 1; i >= 0; i-- {
			s.cleanups[i]()
		}
	}()
	return f(s)
}
