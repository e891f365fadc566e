{{/* Object name: the Service name the gateway calls (modelServiceName in the kit). */}}
{{- define "model-server.fullname" -}}
{{- printf "model-%s" .Values.model.name -}}
{{- end -}}

{{- define "model-server.selectorLabels" -}}
app.kubernetes.io/name: model-server
app.kubernetes.io/instance: {{ .Values.model.name | quote }}
{{- end -}}

{{- define "model-server.labels" -}}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/part-of: sovereign
app.kubernetes.io/component: model-server
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
sovereign.ai/model: {{ .Values.model.name | quote }}
sovereign.ai/model-role: {{ .Values.model.role | quote }}
{{- range $k, $v := .Values.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* Whether an init container must fetch files (weights in sync mode, or LoRA adapters). */}}
{{- define "model-server.needsFetch" -}}
{{- if and (eq .Values.engine "vllm") (or (eq .Values.weights.mode "sync") (gt (len .Values.loraAdapters) 0)) -}}true{{- end -}}
{{- end -}}

{{/* Whether the flywheel's lora-sync sidecar runs (flywheel adapters on a vLLM engine). */}}
{{- define "model-server.flywheel" -}}
{{- if and (eq .Values.engine "vllm") (gt (len .Values.flywheel.adapters) 0) -}}true{{- end -}}
{{- end -}}

{{/* --max-loras of vLLM: the set value, else the static adapters plus two per flywheel adapter
     (its promoted version and a canary are served together). */}}
{{- define "model-server.maxLoras" -}}
{{- $fw := 0 -}}
{{- if include "model-server.flywheel" . -}}{{- $fw = mul 2 (len .Values.flywheel.adapters) -}}{{- end -}}
{{- .Values.vllm.maxLoras | default (add (len .Values.loraAdapters) $fw) -}}
{{- end -}}

{{/* What the lora-sync sidecar keeps loaded (files/lora_sync.py, LORA_SYNC_PLAN). */}}
{{- define "model-server.loraSyncPlan" -}}
{{- toJson (dict "bucket" .Values.weights.bucket "baseModel" .Values.model.name "adapters" .Values.flywheel.adapters) -}}
{{- end -}}

{{/* Cross-field checks the JSON schema cannot express. */}}
{{- define "model-server.validate" -}}
{{- if not .Values.tls.secretName -}}
{{- fail "tls.secretName: expected the Secret with the server's certificate (tls.crt, tls.key, ca.crt): the server serves HTTPS only, found none" -}}
{{- end -}}
{{- if not .Values.tls.serverName -}}
{{- fail "tls.serverName: expected the host name the server's certificate carries (its Service's), found none" -}}
{{- end -}}
{{- if and (eq .Values.engine "vllm") (not .Values.apiKey.secretName) -}}
{{- fail "apiKey.secretName: expected the Secret holding the server's API key (engine vllm: every caller but the probes and /metrics must present it), found none" -}}
{{- end -}}
{{- $tp := int .Values.vllm.tensorParallelSize -}}
{{- $gpus := int .Values.gpu.count -}}
{{- if and (gt $gpus 0) (ne (mod $gpus $tp) 0) -}}
{{- fail (printf "vllm.tensorParallelSize: expected a divisor of gpu.count (%d), found %d" $gpus $tp) -}}
{{- end -}}
{{- if and (eq $gpus 0) (gt $tp 1) -}}
{{- fail (printf "vllm.tensorParallelSize: expected 1 for a CPU model (gpu.count 0), found %d" $tp) -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas) -}}
{{- fail (printf "autoscaling.maxReplicas: expected >= minReplicas (%d), found %d" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range .Values.loraAdapters -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "loraAdapters: expected unique adapter names, found %q twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- range .Values.flywheel.adapters -}}
{{- if hasKey $seen .adapter -}}
{{- fail (printf "flywheel.adapters: expected adapter names no other adapter uses, found %q twice" .adapter) -}}
{{- end -}}
{{- $_ := set $seen .adapter true -}}
{{- end -}}
{{- if and (include "model-server.flywheel" .) (not .Values.weights.bucket) -}}
{{- fail "weights.bucket: expected the models bucket (the flywheel's adapters are read from it), found nothing" -}}
{{- end -}}
{{- if and (include "model-server.flywheel" .) (lt (int (include "model-server.maxLoras" .)) 2) -}}
{{- fail (printf "vllm.maxLoras: expected at least 2 with flywheel adapters (a promoted version and a canary are served together), found %s" (include "model-server.maxLoras" .)) -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by the server and the fetch init container. */}}
{{- define "model-server.objectStoreEnv" -}}
- name: S3_FORCE_PATH_STYLE
  value: {{ .Values.weights.forcePathStyle | quote }}
{{- if .Values.weights.endpoint }}
- name: S3_ENDPOINT
  value: {{ .Values.weights.endpoint | quote }}
{{- end }}
{{- if .Values.weights.forcePathStyle }}
{{- /* An S3-compatible store: point every AWS client (the streamer's too) at it. On AWS S3 the
       region is enough, and a global endpoint override would also redirect STS calls. */}}
{{- if .Values.weights.endpoint }}
- name: AWS_ENDPOINT_URL
  value: {{ .Values.weights.endpoint | quote }}
{{- end }}
- name: RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING
  value: "0"
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "model-server.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: {{ .Values.securityContext.readOnlyRootFilesystem }}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* JSON list of {bucket, prefix, dest} the fetch init container copies. */}}
{{- define "model-server.fetchPlan" -}}
{{- $plan := list -}}
{{- if eq .Values.weights.mode "sync" -}}
{{- $plan = append $plan (dict "bucket" .Values.weights.bucket "prefix" .Values.weights.source "dest" "/models") -}}
{{- end -}}
{{- range .Values.loraAdapters -}}
{{- $plan = append $plan (dict "bucket" $.Values.weights.bucket "prefix" .source "dest" (printf "/adapters/%s" .name)) -}}
{{- end -}}
{{- toJson $plan -}}
{{- end -}}

{{/* VLLM_API_KEY from the server's API key Secret (engine vllm). */}}
{{- define "model-server.apiKeyEnv" -}}
- name: VLLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiKey.secretName }}
      key: {{ .Values.apiKey.key }}
{{- end -}}
