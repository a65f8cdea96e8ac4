variable "alias" {
  description = "Alias name for the key, without the \"alias/\" prefix (e.g. \"featurelake-prod\")."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "The alias must be 1-250 characters of letters, digits, '/', '_' or '-', and must not start with \"aws/\" (reserved for AWS managed keys)."
  }
}

variable "description" {
  description = "Human-readable description shown in the KMS console."
  type        = string
  default     = "featurelake: encrypts the lakehouse bucket, secrets, Redis and the registry database"
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion takes effect (7-30 days). Deleting the key makes every object encrypted with it unreadable."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
