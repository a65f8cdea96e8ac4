variable "name" {
  description = "Name of the EMR Serverless application and prefix of the job role."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name))
    error_message = "name must be 3-40 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "release_label" {
  description = "EMR Serverless release. featurelake needs Spark 4 (its Delta bridge uses the Python Data Source API): the \"AWS runtime for Apache Spark\" releases emr-spark-8.x ship Spark 4.0."
  type        = string
  default     = "emr-spark-8.0.0"

  validation {
    condition     = can(regex("^emr-spark-([89]|[1-9][0-9])\\.[0-9]+\\.[0-9]+$", var.release_label))
    error_message = "release_label must be an emr-spark-8.x (or newer) release such as emr-spark-8.0.0: emr-7.x ships Spark 3.5, which lacks the Python Data Source API featurelake needs."
  }
}

variable "architecture" {
  description = "CPU architecture of the workers. ARM64 (Graviton) costs about 20% less per vCPU-hour, but the venv archive must then be built on aarch64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.architecture)
    error_message = "architecture must be X86_64 or ARM64."
  }
}

variable "subnet_ids" {
  description = "Private subnets the workers' network interfaces are placed in."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least 2 subnets so jobs survive the loss of one availability zone."
  }
}

variable "security_group_ids" {
  description = "Security groups of the workers (the network module's Spark group: the only one Redis and the registry admit)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1
    error_message = "security_group_ids must list at least one security group."
  }
}

variable "bucket_name" {
  description = "Name of the lakehouse bucket."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the lakehouse bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN (arn:aws:s3:::NAME)."
  }
}

variable "prefix" {
  description = "Key prefix of this deployment in the bucket; the job role may touch nothing outside it. Under it: lake/ (Delta tables, storage.root), artifacts/ (wheel, venv, entrypoints: read-only for jobs), logs/ (Spark logs)."
  type        = string
  default     = "featurelake"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.=-]*(/[A-Za-z0-9][A-Za-z0-9_.=-]*)*$", var.prefix))
    error_message = "prefix must be one or more path segments of letters, digits, '_', '.', '=' or '-', with no leading or trailing '/' and no wildcards."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the bucket and the secrets (the job role may use it only through S3 and Secrets Manager)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "secrets" {
  description = "Secrets the jobs read, keyed by the environment variable that receives the value (e.g. FEATURELAKE_REGISTRY_URL). EMR Serverless resolves them at job start (EMR.secret@ annotations), so no secret value appears in the job's configuration."
  type = map(object({
    arn  = string
    name = string
  }))

  validation {
    condition     = alltrue([for k, s in var.secrets : can(regex("^[A-Z][A-Z0-9_]*$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:", s.arn))])
    error_message = "secrets keys must be upper-case environment variable names and each arn a Secrets Manager secret ARN."
  }
}

variable "max_cpu" {
  description = "Ceiling on vCPUs of all running jobs together (EMR Serverless maximum capacity): the cost cap."
  type        = string
  default     = "200 vCPU"

  validation {
    condition     = can(regex("^[0-9]+ vCPU$", var.max_cpu))
    error_message = "max_cpu must look like \"200 vCPU\"."
  }
}

variable "max_memory" {
  description = "Ceiling on memory of all running jobs together."
  type        = string
  default     = "1000 GB"

  validation {
    condition     = can(regex("^[0-9]+ GB$", var.max_memory))
    error_message = "max_memory must look like \"1000 GB\"."
  }
}

variable "max_disk" {
  description = "Ceiling on ephemeral disk of all running jobs together."
  type        = string
  default     = "5000 GB"

  validation {
    condition     = can(regex("^[0-9]+ GB$", var.max_disk))
    error_message = "max_disk must look like \"5000 GB\"."
  }
}

variable "idle_timeout_minutes" {
  description = "The application stops (and stops billing pre-initialized capacity) after this many idle minutes."
  type        = number
  default     = 15

  validation {
    condition     = var.idle_timeout_minutes >= 1 && var.idle_timeout_minutes <= 10080
    error_message = "idle_timeout_minutes must be between 1 and 10080."
  }
}

variable "job_timeout_minutes" {
  description = "Default execution timeout of a job run in the generated requests."
  type        = number
  default     = 720

  validation {
    condition     = var.job_timeout_minutes >= 5 && var.job_timeout_minutes <= 1440
    error_message = "job_timeout_minutes must be between 5 and 1440."
  }
}

variable "executor_cores" {
  description = "vCPUs per Spark executor (EMR Serverless accepts 1, 2, 4, 8 or 16)."
  type        = number
  default     = 4

  validation {
    condition     = contains([1, 2, 4, 8, 16], var.executor_cores)
    error_message = "executor_cores must be 1, 2, 4, 8 or 16."
  }
}

variable "executor_memory_gb" {
  description = "Memory per Spark executor in GB (EMR Serverless adds 10% overhead on top)."
  type        = number
  default     = 16

  validation {
    condition     = var.executor_memory_gb >= 2 && var.executor_memory_gb <= 108
    error_message = "executor_memory_gb must be between 2 and 108."
  }
}

variable "max_executors_per_job" {
  description = "Dynamic allocation ceiling for one job, so one backfill cannot take the whole application."
  type        = number
  default     = 40

  validation {
    condition     = var.max_executors_per_job >= 1
    error_message = "max_executors_per_job must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
