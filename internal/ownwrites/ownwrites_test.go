package ownwrites

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fixed serves one ConfigMap at a given resourceVersion and counts reads.
type fixed struct {
	rv    string
	reads int
}

func (f *fixed) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	f.reads++
	cm := obj.(*corev1.ConfigMap)
	*cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: f.rv}}
	return nil
}

func (f *fixed) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

func TestReadsLiveOnlyWhileTheCacheIsBehindTheLastWrite(t *testing.T) {
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	for name, tc := range map[string]struct {
		written, cached string
		live            bool
	}{
		"nothing written":          {cached: "10"},
		"cache holds the write":    {written: "10", cached: "10"},
		"cache is newer":           {written: "10", cached: "12"},
		"cache is behind":          {written: "10", cached: "9", live: true},
		"cache is behind, shorter": {written: "100", cached: "99", live: true},
		"not comparable":           {written: "10", cached: "x9", live: true},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cache, live := &fixed{rv: tc.cached}, &fixed{rv: "20"}
			r := &Reader{Cache: cache, Live: live}
			r.Wrote(key, tc.written)
			cm := &corev1.ConfigMap{}
			g.Expect(r.Get(context.Background(), key, cm)).To(Succeed())
			if tc.live {
				g.Expect(live.reads).To(Equal(1))
				g.Expect(cm.ResourceVersion).To(Equal("20"))
			} else {
				g.Expect(live.reads).To(BeZero())
				g.Expect(cm.ResourceVersion).To(Equal(tc.cached))
			}
		})
	}
}

func TestAnOlderWriteAnsweredLateDoesNotLowerTheMark(t *testing.T) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "shop", Name: "a"}
	cache, live := &fixed{rv: "11"}, &fixed{rv: "12"}
	r := &Reader{Cache: cache, Live: live}
	r.Wrote(key, "12")
	r.Wrote(key, "11")
	g.Expect(r.Get(context.Background(), key, &corev1.ConfigMap{})).To(Succeed())
	g.Expect(live.reads).To(Equal(1), "the cache at 11 is behind the write at 12")

	r.Forget(key)
	live.reads = 0
	g.Expect(r.Get(context.Background(), key, &corev1.ConfigMap{})).To(Succeed())
	g.Expect(live.reads).To(BeZero())
}
