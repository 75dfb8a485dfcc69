{{- define "wbauto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wbauto.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "wbauto.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "wbauto.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wbauto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wbauto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wbauto.labels" -}}
{{ include "wbauto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wbauto
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "wbauto.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wbauto.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Rules the operator needs on the watched namespaces. */}}
{{- define "wbauto.watchRules" -}}
- apiGroups: ["automations.wandb.ai"]
  resources: ["secretreferences", "webhooks", "automations"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["automations.wandb.ai"]
  resources: ["secretreferences/status", "webhooks/status", "automations/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["automations.wandb.ai"]
  resources: ["automationexecutions"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["automations.wandb.ai"]
  resources: ["automationexecutions/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create"]
{{- end -}}
