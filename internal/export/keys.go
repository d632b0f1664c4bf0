package export

import (
	"fmt"
	"strings"
	"time"
)

// DateLayout is the layout of a report date: a Pacific-time calendar day.
const DateLayout = "2006-01-02"

// ManifestName is the base name of a date's manifest.
const ManifestName = "_manifest.json"

// Report names one date of one report type at one destination prefix: everything the object keys
// are made of.
type Report struct {
	// Prefix is destination.objectStore.prefix; leading and trailing slashes are ignored.
	Prefix string
	// ReportType is the Statsig report type, e.g. first_exposures.
	ReportType string
	// Date is the report date, YYYY-MM-DD.
	Date string
	// ExportedBy names the writer (Kind/namespace/name). It is not part of any key: Export records
	// it in the manifest, and DeleteBefore deletes only dates whose manifest names the same writer.
	ExportedBy string
}

// Validate checks the parts that become key segments.
func (r Report) Validate() error {
	if r.ReportType == "" || strings.ContainsAny(r.ReportType, "/\\") || strings.HasPrefix(r.ReportType, ".") {
		return fmt.Errorf("report type %q is not a valid key segment", r.ReportType)
	}
	if _, err := ParseDate(r.Date); err != nil {
		return err
	}
	for _, seg := range strings.Split(cleanPrefix(r.Prefix), "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("prefix %q has a %q segment", r.Prefix, seg)
		}
	}
	return nil
}

// DateDir is the folder that holds the date's objects: <prefix>/<reportType>/dt=<date>/.
func (r Report) DateDir() string {
	return typeDir(r.Prefix, r.ReportType) + "dt=" + r.Date + "/"
}

// DataKey is the key of the date's data object: <prefix>/<reportType>/dt=<date>/<reportType>-<date>.csv,
// with .gz appended for Gzip.
func (r Report) DataKey(c Compression) string {
	return r.DateDir() + dataName(r.ReportType, r.Date, c)
}

// ManifestKey is the key of the date's manifest: <prefix>/<reportType>/dt=<date>/_manifest.json.
func (r Report) ManifestKey() string {
	return r.DateDir() + ManifestName
}

func dataName(reportType, date string, c Compression) string {
	name := reportType + "-" + date + ".csv"
	if c == Gzip {
		name += ".gz"
	}
	return name
}

// typeDir is <prefix>/<reportType>/, without a leading slash when the prefix is empty.
func typeDir(prefix, reportType string) string {
	if p := cleanPrefix(prefix); p != "" {
		return p + "/" + reportType + "/"
	}
	return reportType + "/"
}

func cleanPrefix(p string) string { return strings.Trim(p, "/") }

// ParseDate parses a report date strictly: exactly YYYY-MM-DD, a real calendar day.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil || t.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("date %q is not a YYYY-MM-DD calendar date", s)
	}
	return t, nil
}
