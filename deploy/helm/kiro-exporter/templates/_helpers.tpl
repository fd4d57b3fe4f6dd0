{{/* Name of the chart, or nameOverride. */}}
{{- define "kiro-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else the release name (with the chart name unless it contains it). */}}
{{- define "kiro-exporter.fullname" -}}
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

{{- define "kiro-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kiro-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiro-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kiro-exporter.labels" -}}
helm.sh/chart: {{ include "kiro-exporter.chart" . }}
{{ include "kiro-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kiro-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kiro-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether the chart mounts a web config. */}}
{{- define "kiro-exporter.webConfigEnabled" -}}
{{- if or .Values.webConfig.existingSecret .Values.webConfig.inline }}true{{ end }}
{{- end }}

{{/* The Secret holding the web config. */}}
{{- define "kiro-exporter.webConfigSecret" -}}
{{- .Values.webConfig.existingSecret | default (printf "%s-web-config" (include "kiro-exporter.fullname" .)) }}
{{- end }}

{{/* HTTP or HTTPS: webConfig.scheme, else HTTPS when the inline web config has TLS. */}}
{{- define "kiro-exporter.scheme" -}}
{{- if .Values.webConfig.scheme }}
{{- upper .Values.webConfig.scheme }}
{{- else if and .Values.webConfig.inline (hasKey .Values.webConfig.inline "tls_server_config") }}
{{- "HTTPS" }}
{{- else }}
{{- "HTTP" }}
{{- end }}
{{- end }}

{{/* The key of the web config in its Secret. */}}
{{- define "kiro-exporter.webConfigKey" -}}
{{- if .Values.webConfig.existingSecret }}{{ .Values.webConfig.existingSecretKey }}{{ else }}web-config.yml{{ end }}
{{- end }}

{{/* One flag value: whole numbers without an exponent (YAML numbers arrive as float64), the rest as they are. */}}
{{- define "kiro-exporter.argValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* The container's arguments: the chart's own, then `args` (sorted by key), then `extraArgs`. */}}
{{- define "kiro-exporter.args" -}}
- --web.listen-address=:{{ .Values.port }}
{{- if .Values.config }}
- --config.file=/etc/kiro-exporter/config/kiro-exporter.yml
{{- end }}
{{- if include "kiro-exporter.webConfigEnabled" . }}
- --web.config.file=/etc/kiro-exporter/web/{{ include "kiro-exporter.webConfigKey" . }}
{{- if and .Values.webConfig.healthWithoutAuth (not (hasKey .Values.args "web.health-without-auth")) }}
- --web.health-without-auth
{{- end }}
{{- end }}
{{- range $key, $value := .Values.args }}
{{- if kindIs "slice" $value }}
{{- range $value }}
- {{ printf "--%s=%s" $key (include "kiro-exporter.argValue" .) | quote }}
{{- end }}
{{- else if kindIs "bool" $value }}
{{- if $value }}
- {{ printf "--%s" $key | quote }}
{{- end }}
{{- else if not (kindIs "invalid" $value) }}
- {{ printf "--%s=%s" $key (include "kiro-exporter.argValue" $value) | quote }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* The NetworkPolicy peer of Prometheus: its pods (podSelector) in its namespace. */}}
{{- define "kiro-exporter.prometheusPeer" -}}
{{- with .Values.networkPolicy.namespace }}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ . | quote }}
{{- end }}
{{- with .Values.networkPolicy.podSelector }}
podSelector:
  matchLabels:
    {{- toYaml . | nindent 4 }}
{{- else }}
podSelector: {}
{{- end }}
{{- end }}
