variable "name" {
  description = "DB instance identifier and name prefix (lower-case letters, digits, '-')."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,58}[a-z0-9]$", var.name)) && !can(regex("--", var.name))
    error_message = "name must be 2-60 lower-case letters, digits or single '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two availability zones (the Multi-AZ standby goes to another zone)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least 2 private subnets in different availability zones."
  }
}

variable "client_security_groups" {
  description = "Security groups allowed to connect, keyed by a static label (e.g. { spark = sg-... }). Nothing else, and no CIDR, is admitted."
  type        = map(string)

  validation {
    condition     = length(var.client_security_groups) >= 1
    error_message = "client_security_groups must name at least the Spark workers' security group."
  }
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the connection secret."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "engine_version" {
  description = "PostgreSQL major (\"16\") or major.minor version. The parameter group family follows the major."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^(1[3-9]|[2-9][0-9])(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 13 or newer, as \"16\" or \"16.4\"."
  }
}

variable "instance_class" {
  description = "DB instance class. The registry is small and metadata-only (one row per feature, view version, job run): a burstable class is usually enough."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS instance class such as db.t4g.medium."
  }
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage_gb >= 20 && var.allocated_storage_gb <= 65536
    error_message = "allocated_storage_gb must be between 20 and 65536."
  }
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB (must be at least allocated_storage_gb)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage_gb >= 20 && var.max_allocated_storage_gb <= 65536
    error_message = "max_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "database_name" {
  description = "Database created for the registry."
  type        = string
  default     = "featurelake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must be 1-63 lower-case letters, digits or '_', starting with a letter."
  }
}

variable "username" {
  description = "Master user name (the registry's migrations and jobs connect as it)."
  type        = string
  default     = "featurelake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.username)) && !contains(["postgres", "rdsadmin", "admin", "root"], var.username)
    error_message = "username must be 1-63 lower-case letters, digits or '_', and not a reserved name (postgres, rdsadmin, admin, root)."
  }
}

variable "password_version" {
  description = "Bump to rotate the master password: a new one is generated, set on the instance and written to the connection secret in the same apply. It never enters the Terraform state."
  type        = number
  default     = 1

  validation {
    condition     = var.password_version >= 1 && floor(var.password_version) == var.password_version
    error_message = "password_version must be a whole number, at least 1."
  }
}

variable "port" {
  description = "TCP port of the database."
  type        = number
  default     = 5432

  validation {
    condition     = var.port >= 1150 && var.port <= 65535
    error_message = "port must be between 1150 and 65535 (an RDS constraint)."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted connection secret can still be restored (0 deletes at once; 7-30 otherwise)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
