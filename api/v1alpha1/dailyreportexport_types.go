package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReportSource is where a report comes from.
// +kubebuilder:validation:Enum=Console;Legacy
type ReportSource string

const (
	// SourceConsole is GET /console/v1/reports with the consoleKey; any date.
	SourceConsole ReportSource = "Console"
	// SourceLegacy is POST /v1/get_daily_report with the serverSecretKey; latest date only.
	SourceLegacy ReportSource = "Legacy"
)

// Compression of the stored file.
// +kubebuilder:validation:Enum=Gzip;None
type Compression string

const (
	// CompressionGzip stores <name>.csv.gz.
	CompressionGzip Compression = "Gzip"
	// CompressionNone stores <name>.csv.
	CompressionNone Compression = "None"
)

// DatePhase is where one report date stands.
type DatePhase string

const (
	// PhasePending: not exported yet; retried with backoff until the availability deadline.
	PhasePending DatePhase = "Pending"
	// PhaseExported: the file and its manifest are stored.
	PhaseExported DatePhase = "Exported"
	// PhaseFailed: given up, see message.
	PhaseFailed DatePhase = "Failed"
)

// DailyReportExportSpec declares which report to export, when, and where to.
// +kubebuilder:validation:XValidation:rule="!has(self.startDate) || self.source == 'Console'",message="startDate is only allowed with source: Console (the Legacy endpoint serves only the latest date)"
// +kubebuilder:validation:XValidation:rule="self.source == 'Legacy' || self.reportType != 'unit_metrics_daily'",message="reportType unit_metrics_daily is only served by source: Legacy"
// +kubebuilder:validation:XValidation:rule="self.source == 'Console' || self.reportType != 'topline_impact_daily'",message="reportType topline_impact_daily is only served by source: Console"
type DailyReportExportSpec struct {
	// secretRef names a Secret in this namespace: consoleKey for source Console, serverSecretKey for
	// source Legacy. When omitted, the operator's default Secret is used if this namespace is trusted.
	// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="secretRef.namespace is not allowed: a DailyReportExport reads its Secret from its own namespace"
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// reportType is the Statsig daily report to export.
	// +kubebuilder:validation:Enum=first_exposures;pulse_daily;topline_impact_daily;unit_metrics_daily
	// +required
	ReportType string `json:"reportType,omitempty"`

	// source of the report: Console (default; needs consoleKey; any date) or Legacy
	// (v1/get_daily_report; needs serverSecretKey; latest date only).
	// +kubebuilder:default=Console
	// +optional
	Source ReportSource `json:"source,omitempty"`

	// schedule is a 5-field cron expression (minute hour day-of-month month day-of-week) in timeZone.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\s*\\\\S+\\\\s+\\\\S+\\\\s+\\\\S+\\\\s+\\\\S+\\\\s+\\\\S+\\\\s*$')",message="schedule must be a 5-field cron expression (minute hour day-of-month month day-of-week), for example \"0 11 * * *\""
	// +required
	Schedule string `json:"schedule,omitempty"`

	// timeZone is the IANA time zone the schedule is read in. Report dates are Pacific-time dates.
	// +kubebuilder:default=America/Los_Angeles
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(UTC|[A-Za-z][A-Za-z0-9_+\\\\-]*(/[A-Za-z0-9_+\\\\-]+)+)$')",message="timeZone must be an IANA time zone name such as America/Los_Angeles or UTC"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// startDate (YYYY-MM-DD) backfills every missing date from this one on, oldest first.
	// Only with source: Console.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$')",message="startDate must be a date written YYYY-MM-DD"
	// +optional
	StartDate string `json:"startDate,omitempty"`

	// destination is where each date's file goes: exactly one of objectStore or configMap.
	// +required
	Destination ExportDestination `json:"destination,omitzero"`

	// compression of the stored file: Gzip (default) or None. A report that already arrives
	// gzip-compressed is stored as it is when Gzip is asked for.
	// +kubebuilder:default=Gzip
	// +optional
	Compression Compression `json:"compression,omitempty"`

	// retentionDays deletes objects this resource wrote for dates older than this many days.
	// Nothing else is ever deleted.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=36500
	// +optional
	RetentionDays *int32 `json:"retentionDays,omitempty"`

	// availabilityDeadline is how long a date that is not available yet is retried before it is
	// marked Failed, counted from the first attempt. Default 24h.
	// +kubebuilder:default="24h"
	// +optional
	AvailabilityDeadline *metav1.Duration `json:"availabilityDeadline,omitempty"`

	// suspend holds the schedule: nothing is exported while true. A run that fell due while
	// suspended is not made up.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ExportDestination is where exported files go.
// +kubebuilder:validation:XValidation:rule="has(self.objectStore) != has(self.configMap)",message="destination must set exactly one of objectStore or configMap"
// +kubebuilder:validation:MinProperties=1
type ExportDestination struct {
	// objectStore writes one object per date, then its manifest.
	// +optional
	ObjectStore *ObjectStoreDestination `json:"objectStore,omitempty"`

	// configMap stores the (compressed) file as binary data, for small reports.
	// +optional
	ConfigMap *ConfigMapDestination `json:"configMap,omitempty"`
}

// ObjectStoreDestination is a bucket and a key prefix.
type ObjectStoreDestination struct {
	// url of the bucket: s3://bucket?region=…, gs://bucket, azblob://container, or file:///path
	// (file only when the operator allows it).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('s3://') || self.startsWith('gs://') || self.startsWith('azblob://') || self.startsWith('file://')",message="url must start with s3://, gs://, azblob:// or file://"
	// +required
	URL string `json:"url,omitempty"`

	// prefix of every object key, without leading or trailing slash.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.endsWith('/')",message="prefix must not start or end with '/'"
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// credentialsSecretRef names a Secret in this namespace with the store's credentials:
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (S3);
	// GOOGLE_APPLICATION_CREDENTIALS_JSON (GCS); AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or
	// AZURE_STORAGE_SAS_TOKEN (Azure). Omitted: the operator's own identity, when it allows that.
	// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="credentialsSecretRef.namespace is not allowed: the Secret is read from the resource's namespace"
	// +optional
	CredentialsSecretRef *LocalSecretReference `json:"credentialsSecretRef,omitempty"`
}

// ConfigMapDestination is a ConfigMap in the resource's namespace.
type ConfigMapDestination struct {
	// name of the ConfigMap; each date is a binaryData key named like the object file.
	// +required
	Name ConfigMapName `json:"name,omitempty"`
}

// ExportedDate is one entry of the ledger.
type ExportedDate struct {
	// date of the report (YYYY-MM-DD, a Pacific-time date).
	// +required
	// +kubebuilder:validation:MaxLength=10
	Date string `json:"date"`
	// phase: Pending, Exported or Failed.
	// +kubebuilder:validation:Enum=Pending;Exported;Failed
	// +required
	Phase DatePhase `json:"phase"`
	// object key (or ConfigMap key) the file was stored under.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Object string `json:"object,omitempty"`
	// bytes of the stored object.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`
	// sha256 of the stored object, hex.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SHA256 string `json:"sha256,omitempty"`
	// rows of data in the CSV, header excluded.
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// exportedAt is when the file was stored.
	// +optional
	ExportedAt *metav1.Time `json:"exportedAt,omitempty"`
	// attempts made for this date.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// firstAttemptTime starts the availability deadline.
	// +optional
	FirstAttemptTime *metav1.Time `json:"firstAttemptTime,omitempty"`
	// nextAttemptTime is when a Pending date is tried again.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// message says why the date is Pending or Failed.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message,omitempty"`
}

// DailyReportExportStatus is the last observed state of a DailyReportExport.
type DailyReportExportStatus struct {
	CommonStatus `json:",inline"`

	// dates is the ledger of report dates, newest first: every date from startDate (or from the
	// first date this resource targeted) to the newest, at most 400 dates back and none past
	// retentionDays. A date stays Pending until it is Exported or, not available within
	// availabilityDeadline, Failed.
	// +listType=map
	// +listMapKey=date
	// +kubebuilder:validation:MaxItems=400
	// +optional
	Dates []ExportedDate `json:"dates,omitempty"`

	// lastExportedDate is the newest date exported.
	// +optional
	// +kubebuilder:validation:MaxLength=10
	LastExportedDate string `json:"lastExportedDate,omitempty"`

	// lastScheduleTime is the newest schedule time that was run (or passed while suspended), so that
	// a restart neither skips a due run nor runs one twice, and resuming does not make up a run.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// nextScheduleTime is when the schedule fires next; empty while suspended.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
}

// DailyReportExport exports Statsig's daily reports, one file per report date, to object storage
// (or, for small reports, a ConfigMap) on a schedule, exactly once per date.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dre;reportexport,categories=statsig
// +kubebuilder:printcolumn:name="Report",type=string,JSONPath=`.spec.reportType`
// +kubebuilder:printcolumn:name="Last Exported",type=string,JSONPath=`.status.lastExportedDate`
// +kubebuilder:printcolumn:name="Next Run",type=string,JSONPath=`.status.nextScheduleTime`,description="When the schedule fires next"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DailyReportExport struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DailyReportExportSpec `json:"spec,omitzero"`
	// +optional
	Status DailyReportExportStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DailyReportExportList is a list of DailyReportExports.
type DailyReportExportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DailyReportExport `json:"items"`
}

func init() {
	register(&DailyReportExport{}, &DailyReportExportList{})
}
