variable "name" {
  description = "Replication group id and name prefix (lower-case letters, digits, '-'; at most 40 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name)) && !can(regex("--", var.name))
    error_message = "name must be 2-40 lower-case letters, digits or single '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the cluster lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two availability zones; shards' primaries and replicas are spread across them."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least 2 subnets (in different availability zones) for Multi-AZ."
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
  description = "KMS key for encryption at rest and for the AUTH token secret."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "node_type" {
  description = "Cache node type. Memory per shard bounds the online store size: entities x features x ~100 bytes / shards, plus headroom for replication."
  type        = string
  default     = "cache.r7g.large"

  validation {
    condition     = startswith(var.node_type, "cache.") && !can(regex("^cache\\.(t1|m1|m2|m3|c1)\\.", var.node_type))
    error_message = "node_type must be a current-generation ElastiCache node type such as cache.r7g.large (previous generations lack in-transit encryption)."
  }
}

variable "shard_count" {
  description = "Number of shards (node groups). Writes and memory scale with it; at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.shard_count >= 2 && var.shard_count <= 500 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number between 2 and 500."
  }
}

variable "replicas_per_shard" {
  description = "Read replicas per shard, placed in other availability zones; at least 1 so a primary can fail over."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas_per_shard >= 1 && var.replicas_per_shard <= 5 && floor(var.replicas_per_shard) == var.replicas_per_shard
    error_message = "replicas_per_shard must be a whole number between 1 and 5."
  }
}

variable "engine_version" {
  description = "Redis OSS engine version (7.0 or newer: required for transit_encryption_mode and the AUTH ROTATE strategy)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Redis OSS 7.x version such as 7.1."
  }
}

variable "parameter_group_name" {
  description = "Parameter group; it must have cluster-enabled=yes."
  type        = string
  default     = "default.redis7.cluster.on"
}

variable "port" {
  description = "TCP port of every node."
  type        = number
  default     = 6379

  validation {
    condition     = var.port >= 1024 && var.port <= 65535
    error_message = "port must be between 1024 and 65535."
  }
}

variable "snapshot_retention_limit" {
  description = "Days of automatic snapshots to keep (0 disables them). The online store can be rebuilt by a materialize job, so a short window is enough."
  type        = number
  default     = 3

  validation {
    condition     = var.snapshot_retention_limit >= 0 && var.snapshot_retention_limit <= 35
    error_message = "snapshot_retention_limit must be between 0 and 35."
  }
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), ddd:hh24:mi-ddd:hh24:mi."
  type        = string
  default     = "sun:03:00-sun:04:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:03:00-sun:04:00."
  }
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted AUTH token secret can still be restored (0 deletes at once; 7-30 otherwise)."
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

variable "auth_token_update_strategy" {
  description = "How a new AUTH token is applied: ROTATE accepts old and new tokens until a later SET; SET retires the old one (apply with SET once no client uses it)."
  type        = string
  default     = "ROTATE"

  validation {
    condition     = contains(["ROTATE", "SET"], var.auth_token_update_strategy)
    error_message = "auth_token_update_strategy must be ROTATE or SET (DELETE would disable AUTH)."
  }
}
