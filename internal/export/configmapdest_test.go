package export

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/statsig-operator/statsig-operator/internal/configmap"
)

func TestExpireFiles(t *testing.T) {
	files := map[string][]byte{
		"first_exposures-2026-11-01.csv.gz": nil,
		"first_exposures-2026-11-05.csv.gz": nil,
		"first_exposures-2026-11-09.csv":    nil,
		"pulse_daily-2026-11-01.csv.gz":     nil, // another report type
		"first_exposures-notes.txt":         nil, // not a date
		"README":                            nil,
	}
	cases := []struct {
		cutoff  string
		changed bool
		kept    []string
	}{
		{"2026-10-01", false, nil},
		{"2026-11-05", true, []string{"first_exposures-2026-11-05.csv.gz", "first_exposures-2026-11-09.csv", "pulse_daily-2026-11-01.csv.gz", "first_exposures-notes.txt", "README"}},
		{"2026-12-01", true, []string{"pulse_daily-2026-11-01.csv.gz", "first_exposures-notes.txt", "README"}},
	}
	for _, tc := range cases {
		t.Run(tc.cutoff, func(t *testing.T) {
			g := NewWithT(t)
			kept, changed := ExpireFiles(files, "first_exposures", tc.cutoff)
			g.Expect(changed).To(Equal(tc.changed))
			if !tc.changed {
				g.Expect(kept).To(HaveLen(len(files)))
				return
			}
			var keys []string
			for k := range kept {
				keys = append(keys, k)
			}
			g.Expect(keys).To(ConsistOf(tc.kept))
		})
	}
}

func TestFileRoom(t *testing.T) {
	g := NewWithT(t)
	g.Expect(FileRoom(nil, "k")).To(BeEquivalentTo(configmap.MaxSize - configmap.Size(nil, nil) - 1))
	full := map[string][]byte{"big": []byte(strings.Repeat("x", configmap.MaxSize))}
	g.Expect(FileRoom(full, "k")).To(BeZero(), "never negative")
}
