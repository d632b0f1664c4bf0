package export

import (
	"strings"

	"github.com/statsig-operator/statsig-operator/internal/configmap"
	"github.com/statsig-operator/statsig-operator/internal/schedule"
)

// FileRoom is how many bytes a new file under key may take in a configMap destination that holds
// files already: what is left of the ConfigMap size limit, never negative.
func FileRoom(files map[string][]byte, key string) int64 {
	return max(int64(configmap.MaxSize-configmap.Size(nil, files)-len(key)), 0)
}

// ExpireFiles returns the files of a configMap destination without those of dates before cutoff,
// and whether any was dropped. A file is a date's when its key is <reportType>-<YYYY-MM-DD>...;
// any other key is kept.
func ExpireFiles(files map[string][]byte, reportType, cutoff string) (map[string][]byte, bool) {
	prefix := reportType + "-"
	kept := make(map[string][]byte, len(files))
	for k, v := range files {
		date, ok := strings.CutPrefix(k, prefix)
		if ok && len(date) >= len(schedule.DateLayout) {
			date = date[:len(schedule.DateLayout)]
			if _, err := schedule.ParseDate(date); err == nil && date < cutoff {
				continue
			}
		}
		kept[k] = v
	}
	return kept, len(kept) != len(files)
}
