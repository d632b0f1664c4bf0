package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of DailyReportExports, one series per resource. Resources of this kind are few (one per
// report and destination), so per-resource labels stay cheap.
var (
	// ExportBytes counts the bytes stored by exports (the stored object, compressed or not).
	ExportBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_export_bytes_total",
		Help: "Bytes of report files stored by a DailyReportExport (as stored, after compression).",
	}, []string{"namespace", "name"})

	// ExportFiles counts report dates exported (a date found already exported is not counted).
	ExportFiles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "statsig_operator_export_files_total",
		Help: "Report files exported by a DailyReportExport, one per report date.",
	}, []string{"namespace", "name"})

	// ExportDuration observes how long one date's export took, from asking Statsig for the report
	// to the manifest (or ConfigMap) being written.
	ExportDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "statsig_operator_export_duration_seconds",
		Help: "Duration of one report date's export: report request, download, conversion and store writes.",
		// 0.25 s to about 68 min: small reports to multi-gigabyte ones.
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 15),
	}, []string{"namespace", "name"})

	// ExportLastSuccess is the Unix time of each resource's last exported date.
	ExportLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "statsig_operator_export_last_success_timestamp_seconds",
		Help: "Unix time at which a DailyReportExport last exported a report date.",
	}, []string{"namespace", "name"})
)

var _ = Add(ExportBytes, ExportFiles, ExportDuration, ExportLastSuccess)

// ForgetExport removes every export series of a deleted DailyReportExport.
func ForgetExport(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "name": name}
	ExportBytes.DeletePartialMatch(l)
	ExportFiles.DeletePartialMatch(l)
	ExportDuration.DeletePartialMatch(l)
	ExportLastSuccess.DeletePartialMatch(l)
}
