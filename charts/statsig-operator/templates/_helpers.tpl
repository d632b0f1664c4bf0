{{- define "statsig-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "statsig-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "statsig-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statsig-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "statsig-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "statsig-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "statsig-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "statsig-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "statsig-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The extra CA bundle, if any: its volume source and key. */}}
{{- define "statsig-operator.caBundle" -}}
{{- if .Values.caBundle.configMap.name }}
configMap:
  name: {{ .Values.caBundle.configMap.name }}
  items:
  - key: {{ .Values.caBundle.configMap.key }}
    path: ca.crt
{{- else if .Values.caBundle.secret.name }}
secret:
  secretName: {{ .Values.caBundle.secret.name }}
  items:
  - key: {{ .Values.caBundle.secret.key }}
    path: ca.crt
{{- end }}
{{- end }}
