output "bucket_name" {
  description = "Name of the lakehouse bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the lakehouse bucket."
  value       = aws_s3_bucket.this.arn
}

output "region" {
  description = "Region of the bucket (storage.s3.region in featurelake.yaml)."
  value       = aws_s3_bucket.this.region
}
