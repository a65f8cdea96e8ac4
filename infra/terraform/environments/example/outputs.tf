# --- featurelake.yaml, key by key (featurelake/config/deploy.py maps these onto the settings) -----

output "settings_project" {
  description = "featurelake.yaml: project"
  value       = local.settings.project
}

output "settings_storage_root" {
  description = "featurelake.yaml: storage.root"
  value       = local.settings.storage_root
}

output "settings_storage_s3_region" {
  description = "featurelake.yaml: storage.s3.region"
  value       = local.settings.storage_s3_region
}

output "settings_registry_url_env" {
  description = "featurelake.yaml: registry.url_env"
  value       = local.settings.registry_url_env
}

output "settings_online_nodes" {
  description = "featurelake.yaml: online.nodes"
  value       = local.settings.online_nodes
}

output "settings_online_ssl" {
  description = "featurelake.yaml: online.ssl"
  value       = local.settings.online_ssl
}

output "settings_online_password_env" {
  description = "featurelake.yaml: online.password_env"
  value       = local.settings.online_password_env
}

output "featurelake_yaml" {
  description = "The whole featurelake.yaml for this environment: terraform output -raw featurelake_yaml > featurelake.yaml"
  value       = templatefile("${path.module}/featurelake.yaml.tftpl", local.settings)
}

# --- Where the secrets behind the *_env settings live --------------------------------------

output "registry_url_secret_arn" {
  description = "Secret whose plain-text value is the registry URL (the value of settings_registry_url_env)."
  value       = module.registry.url_secret_arn
}

output "online_password_secret_arn" {
  description = "Secret whose plain-text value is the Redis AUTH token (the value of settings_online_password_env)."
  value       = module.online_store.auth_token_secret_arn
}

# --- Running jobs ---------------------------------------------------------------------------

output "spark_application_id" {
  description = "EMR Serverless application id."
  value       = module.spark.application_id
}

output "spark_job_role_arn" {
  description = "Job execution role ARN."
  value       = module.spark.job_role_arn
}

output "artifacts_uri" {
  description = "Upload the venv archive, the settings archive and jobs/*.py here."
  value       = module.spark.artifacts_uri
}

output "logs_uri" {
  description = "Spark driver and executor logs."
  value       = module.spark.logs_uri
}

output "backfill_job_run_request" {
  description = "Example StartJobRun request for the backfill job (fill in {{VIEW}}, {{START_DATE}}, {{END_DATE}})."
  value       = module.spark.job_run_requests["backfill"]
}

output "job_run_requests" {
  description = "StartJobRun requests for every featurelake job."
  value       = module.spark.job_run_requests
}

output "bucket_name" {
  description = "Lakehouse bucket."
  value       = module.lakehouse_bucket.bucket_name
}

output "kms_key_arn" {
  description = "KMS key of the deployment (upload artifacts with SSE-KMS under it, or rely on the bucket default)."
  value       = module.kms.key_arn
}
