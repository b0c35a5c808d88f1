{{- define "labplatform.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "labplatform.labels" -}}
app.kubernetes.io/name: labplatform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "labplatform.selectorLabels" -}}
app.kubernetes.io/name: labplatform
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "labplatform.serviceAccountName" -}}
{{- default (include "labplatform.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "labplatform.secretName" -}}
{{- default (include "labplatform.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* The restricted Pod Security profile, met by every platform pod. */}}
{{- define "labplatform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "labplatform.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Settings shared by web, worker, beat and the migration job. */}}
{{- define "labplatform.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "labplatform.fullname" . }}
  - secretRef:
      name: {{ include "labplatform.secretName" . }}
{{- end -}}

{{- define "labplatform.volumeMounts" -}}
volumeMounts:
  - name: data
    mountPath: /var/lib/labplatform
  - name: tmp
    mountPath: /tmp
  - name: kubeconfig
    mountPath: /etc/labplatform
    readOnly: true
{{- if .Values.audit.volume }}
  - name: audit
    mountPath: /var/log/kubernetes/audit
    readOnly: true
{{- end }}
{{- end -}}

{{- define "labplatform.volumes" -}}
volumes:
  - name: data
{{- if .Values.dataVolumeClaim }}
    persistentVolumeClaim:
      claimName: {{ .Values.dataVolumeClaim }}
{{- else }}
    emptyDir: {}
{{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  - name: kubeconfig
{{- if .Values.cluster.kubeconfigSecret }}
    secret:
      secretName: {{ .Values.cluster.kubeconfigSecret }}
{{- else }}
    configMap:
      name: {{ include "labplatform.fullname" . }}-kubeconfig
{{- end }}
{{- if .Values.audit.volume }}
  - name: audit
{{ toYaml .Values.audit.volume | indent 4 }}
{{- end }}
{{- end -}}

{{- define "labplatform.podSpecCommon" -}}
serviceAccountName: {{ include "labplatform.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . | indent 2 }}
{{- end }}
securityContext:
{{ include "labplatform.podSecurityContext" . | indent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}

{{- define "labplatform.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
