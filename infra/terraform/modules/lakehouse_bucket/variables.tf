variable "bucket_name" {
  description = "Globally unique name of the lakehouse bucket (Delta tables, job artifacts and job logs live under prefixes of it)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^xn--|-s3alias$|^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key used for default encryption (SSE-KMS with S3 Bucket Keys)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a noncurrent object version is kept before it is deleted. Delta never overwrites data files, so noncurrent versions come from deletes (VACUUM) and rewritten checkpoints: this is the undo window after a VACUUM."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "newer_noncurrent_versions_to_keep" {
  description = "Noncurrent versions of an object kept regardless of age (0 = age alone decides)."
  type        = number
  default     = 1

  validation {
    condition     = var.newer_noncurrent_versions_to_keep >= 0 && var.newer_noncurrent_versions_to_keep <= 100
    error_message = "newer_noncurrent_versions_to_keep must be between 0 and 100."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which parts of a multipart upload that never completed (a failed Spark task) are removed."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "abort_incomplete_multipart_upload_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
