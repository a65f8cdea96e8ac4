output "application_id" {
  description = "Id of the EMR Serverless application (--application-id of start-job-run)."
  value       = aws_emrserverless_application.this.id
}

output "application_arn" {
  description = "ARN of the EMR Serverless application."
  value       = aws_emrserverless_application.this.arn
}

output "job_role_arn" {
  description = "ARN of the job execution role (--execution-role-arn of start-job-run)."
  value       = aws_iam_role.job.arn
}

output "lake_uri" {
  description = "Root of the Delta tables (storage.root in featurelake.yaml)."
  value       = local.lake_uri
}

output "artifacts_uri" {
  description = "Where the venv archive, the settings archive and the job entry points are uploaded."
  value       = local.artifacts_uri
}

output "logs_uri" {
  description = "Where EMR Serverless writes driver and executor logs."
  value       = "${local.logs_uri}/"
}

output "spark_defaults" {
  description = "Spark configuration every featurelake job run uses (no secret values: secrets are EMR.secret@ references)."
  value       = local.spark_defaults
}

output "job_run_requests" {
  description = "StartJobRun request bodies (JSON) for the backfill, materialize and training_set jobs; fill the {{...}} placeholders and pass to `aws emr-serverless start-job-run --cli-input-json`."
  value       = { for job, request in local.job_run_requests : job => jsonencode(request) }
}
