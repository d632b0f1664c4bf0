package statsig_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/statsig"
	"github.com/statsig-operator/statsig-operator/internal/statsig/statsigtest"
)

func TestListAuditLogStopsAtTheCursor(t *testing.T) {
	for _, shape := range []statsigtest.AuditShape{statsigtest.AuditDocumented, statsigtest.AuditBareArrayMillis} {
		g := NewWithT(t)
		fake := statsigtest.New(t)
		fake.SetAuditShape(shape)
		fake.SetPageSize(2)
		base := time.Date(2026, 1, 1, 0, 6, 39, 0, time.UTC)
		for i, name := range []string{"a", "b", "c", "d", "e"} {
			fake.AddAuditEntry(statsigtest.AuditEntry{ID: "id-" + name, Name: name, ActionType: "gate_update", Time: base.Add(time.Duration(i) * time.Minute)})
		}
		pool, err := statsig.NewClients(fake.Options())
		g.Expect(err).NotTo(HaveOccurred())
		c := pool.ForKey(fake.ConsoleKey)

		entries, found, err := c.ListAuditLog(context.Background(), "", 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue())
		g.Expect(entries).To(HaveLen(2), "no cursor reads one page")
		g.Expect(entries[0]).To(Equal(statsig.AuditLogEntry{ID: "id-e", Name: "e", ActionType: "gate_update", Time: base.Add(4 * time.Minute)}))

		fake.ResetCounts()
		entries, found, err = c.ListAuditLog(context.Background(), "id-b", 10)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue())
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		g.Expect(ids).To(Equal([]string{"id-e", "id-d", "id-c"}))
		g.Expect(fake.Count(statsig.EndpointAuditLogs)).To(Equal(2), "stops paging at the cursor")
		q := fake.Requests(statsig.EndpointAuditLogs)[0].Query
		g.Expect(q.Get("sortKey")).To(Equal("time"))
		g.Expect(q.Get("sortOrder")).To(Equal("desc"))

		_, found, err = c.ListAuditLog(context.Background(), "id-gone", 1)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeFalse())
		g.Expect(fake.Violations()).To(BeEmpty())
	}
}

func TestListAuditLogNeedsAConsoleKey(t *testing.T) {
	g := NewWithT(t)
	fake := statsigtest.New(t)
	pool, err := statsig.NewClients(fake.Options())
	g.Expect(err).NotTo(HaveOccurred())
	_, _, err = pool.ForKey(fake.ServerKey).ListAuditLog(context.Background(), "", 1)
	g.Expect(statsig.Classify(err)).To(Equal(statsig.ClassUnauthorized))
	g.Expect(err.Error()).NotTo(ContainSubstring(fake.ServerKey))
}
