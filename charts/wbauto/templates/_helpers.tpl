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
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The supported Kubernetes versions, checked here rather than by Chart.yaml's kubeVersion: offline,
`helm template` without --kube-version assumes Helm's built-in default (v1.20.0 for a Helm built
without release ldflags), which a kubeVersion constraint would refuse. The check runs when the version
is real: against a cluster (lookup finds kube-system) or when --kube-version names something other
than that default.
*/}}
{{- define "wbauto.checkKubeVersion" -}}
{{- $version := .Capabilities.KubeVersion.Version -}}
{{- $live := lookup "v1" "Namespace" "" "kube-system" -}}
{{- if or $live (ne $version "v1.20.0") -}}
{{- if not (semverCompare ">=1.30.0-0" $version) -}}
{{- fail (printf "wbauto needs Kubernetes 1.30 or newer (CEL validation rules in the CRDs); this cluster is %s" $version) -}}
{{- end -}}
{{- end -}}
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
