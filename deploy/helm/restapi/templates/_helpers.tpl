{{- define "restapi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "restapi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "restapi.labels" -}}
{{ include "restapi.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "restapi.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Where the Secrets are mounted; the environment below points into these. */}}
{{- define "restapi.tlsDir" -}}/etc/restapi/tls{{- end -}}
{{- define "restapi.jwtDir" -}}/etc/restapi/jwt{{- end -}}
{{- define "restapi.postgresTlsDir" -}}/etc/restapi/postgres-tls{{- end -}}
{{- define "restapi.kafkaTlsDir" -}}/etc/restapi/kafka-tls{{- end -}}

{{/*
The settings every container of the release shares (web, relay, migrations, cron jobs):
with DEBUG=0 each of them refuses to start without the secret key, the TLS certificate and
the JWT keys, so each mounts the same Secrets.
*/}}
{{- define "restapi.env" -}}
- name: DEBUG
  value: "0"
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: DJANGO_ALLOWED_HOSTS
  value: {{ printf "%s,$(POD_IP)" (join "," .Values.allowedHosts) | quote }}
- name: PUBLIC_BASE_URL
  value: {{ .Values.publicBaseUrl | default (printf "https://%s" (first .Values.allowedHosts)) | quote }}
- name: API_ENDPOINT
  value: "0.0.0.0:3000"
- name: API_TLS_CERT
  value: {{ include "restapi.tlsDir" . }}/tls.crt
- name: API_TLS_KEY
  value: {{ include "restapi.tlsDir" . }}/tls.key
{{- if .Values.api.clientAuth }}
- name: API_TLS_CLIENT_AUTH
  value: "1"
- name: API_TLS_CA
  value: {{ include "restapi.tlsDir" . }}/ca.crt
{{- end }}
- name: SERVER_PKI_DIR_JWT
  value: {{ include "restapi.jwtDir" . }}
- name: TOKEN_ALGO_PRIVATE_KEY
  value: {{ include "restapi.jwtDir" . }}/private-key-pkcs8.pem
- name: TOKEN_ALGO_PUBLIC_KEY
  value: {{ include "restapi.jwtDir" . }}/public-key.pem
- name: POSTGRES_ENDPOINT
  value: {{ .Values.postgres.endpoint | quote }}
- name: POSTGRES_USERNAME
  value: {{ .Values.postgres.username | quote }}
- name: DB_NAME
  value: {{ .Values.postgres.database | quote }}
{{- if .Values.secrets.postgresTls }}
- name: POSTGRES_TLS_CA
  value: {{ include "restapi.postgresTlsDir" . }}/ca.crt
{{- if .Values.secrets.postgresClientCert }}
- name: POSTGRES_TLS_CERT
  value: {{ include "restapi.postgresTlsDir" . }}/tls.crt
- name: POSTGRES_TLS_KEY
  value: {{ include "restapi.postgresTlsDir" . }}/tls.key
{{- end }}
{{- end }}
- name: S3_DATA_UPLOAD_TO_S3
  value: {{ ternary "1" "0" .Values.s3.enabled | quote }}
{{- if .Values.s3.enabled }}
- name: S3_DATA_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: S3_DATA_PREFIX
  value: {{ .Values.s3.prefix | quote }}
{{- with .Values.s3.region }}
- name: S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.endpointUrl }}
- name: S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if .Values.kafka.enabled }}
- name: KAFKA_ENABLED
  value: "1"
- name: KAFKA_PUBLISH_EVENTS
  value: "1"
- name: KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: KAFKA_USER_EVENTS_TOPIC
  value: {{ .Values.kafka.userEventsTopic | quote }}
- name: KAFKA_TOPICS
  value: {{ join "," .Values.kafka.topics | quote }}
- name: KAFKA_PUBLISH_FROM_WEB
  value: {{ ternary "0" "1" .Values.relay.enabled | quote }}
{{- if .Values.secrets.kafkaTls }}
- name: KAFKA_TLS_CLIENT_CA
  value: {{ include "restapi.kafkaTlsDir" . }}/ca.crt
{{- if .Values.secrets.kafkaClientCert }}
- name: KAFKA_TLS_CLIENT_CERT
  value: {{ include "restapi.kafkaTlsDir" . }}/tls.crt
- name: KAFKA_TLS_CLIENT_KEY
  value: {{ include "restapi.kafkaTlsDir" . }}/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
With client certificates required (api.clientAuth), the kubelet has none to present: the
probes then only check that the port takes connections; the migration hook still keeps
pods off an unmigrated schema.
*/}}
{{- define "restapi.probe" -}}
{{- if .root.Values.api.clientAuth -}}
tcpSocket: {port: https}
{{- else -}}
httpGet: {path: {{ .path }}, port: https, scheme: HTTPS}
{{- end -}}
{{- end -}}

{{/* How Prometheus scrapes the API and relay pods: HTTPS, and METRICS_TOKEN. */}}
{{- define "restapi.scrapeEndpoint" -}}
path: /metrics
scheme: https
interval: {{ .Values.serviceMonitor.interval }}
tlsConfig:
  {{- if .Values.serviceMonitor.tlsConfig }}
  {{- toYaml .Values.serviceMonitor.tlsConfig | nindent 2 }}
  {{- else }}
  ca:
    secret:
      name: {{ .Values.secrets.tls }}
      key: ca.crt
  serverName: {{ first .Values.allowedHosts }}
  {{- end }}
{{- if .Values.serviceMonitor.metricsToken }}
authorization:
  type: Bearer
  credentials:
    name: {{ .Values.secrets.env }}
    key: METRICS_TOKEN
{{- end }}
{{- end -}}

{{- define "restapi.envFrom" -}}
- secretRef:
    name: {{ .Values.secrets.env }}
{{- end -}}

{{- define "restapi.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: tls
  mountPath: {{ include "restapi.tlsDir" . }}
  readOnly: true
- name: jwt
  mountPath: {{ include "restapi.jwtDir" . }}
  readOnly: true
{{- if .Values.secrets.postgresTls }}
- name: postgres-tls
  mountPath: {{ include "restapi.postgresTlsDir" . }}
  readOnly: true
{{- end }}
{{- if and .Values.kafka.enabled .Values.secrets.kafkaTls }}
- name: kafka-tls
  mountPath: {{ include "restapi.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Secret files are readable by the pod's group only (fsGroup), never world-readable. */}}
{{- define "restapi.volumes" -}}
- name: tmp
  emptyDir: {}
- name: tls
  secret:
    secretName: {{ .Values.secrets.tls }}
    defaultMode: 0440
- name: jwt
  secret:
    secretName: {{ .Values.secrets.jwt }}
    defaultMode: 0440
    {{- with .Values.secrets.jwtItems }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- if .Values.secrets.postgresTls }}
- name: postgres-tls
  secret:
    secretName: {{ .Values.secrets.postgresTls }}
    defaultMode: 0440
{{- end }}
{{- if and .Values.kafka.enabled .Values.secrets.kafkaTls }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.secrets.kafkaTls }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "restapi.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "restapi.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* A container running one manage.py command, for the migration Job and the CronJobs. */}}
{{- define "restapi.commandPod" -}}
automountServiceAccountToken: false
restartPolicy: Never
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "restapi.podSecurityContext" .root | nindent 2 }}
containers:
  - name: {{ .name }}
    image: {{ include "restapi.image" .root }}
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    command:
      {{- toYaml .command | nindent 6 }}
    env:
      {{- include "restapi.env" .root | nindent 6 }}
    envFrom:
      {{- include "restapi.envFrom" .root | nindent 6 }}
    securityContext:
      {{- include "restapi.containerSecurityContext" .root | nindent 6 }}
    volumeMounts:
      {{- include "restapi.volumeMounts" .root | nindent 6 }}
volumes:
  {{- include "restapi.volumes" .root | nindent 2 }}
{{- end -}}
