variable "project" {
  description = "featurelake project name (project in featurelake.yaml; prefixes every online-store key)."
  type        = string
  default     = "fraud"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.project))
    error_message = "project must be letters, digits and underscores (featurelake's own rule)."
  }
}

variable "environment" {
  description = "Environment name, part of every resource name (e.g. prod, staging)."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2-12 lower-case letters or digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the whole deployment (storage.s3.region in featurelake.yaml)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1."
  }
}

variable "bucket_name" {
  description = "Globally unique name of the lakehouse bucket."
  type        = string
}

variable "lake_prefix" {
  description = "Key prefix of this deployment inside the bucket (the job role is confined to it)."
  type        = string
  default     = "featurelake"
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "availability_zone_count" {
  description = "Availability zones to spread subnets, Redis shards' replicas and the RDS standby over."
  type        = number
  default     = 3
}

variable "redis_node_type" {
  description = "ElastiCache node type of the online store."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_shard_count" {
  description = "Shards of the online store (at least 2)."
  type        = number
  default     = 2
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least 1)."
  type        = number
  default     = 1
}

variable "registry_instance_class" {
  description = "RDS instance class of the registry."
  type        = string
  default     = "db.t4g.medium"
}

variable "registry_password_version" {
  description = "Bump to rotate the registry's password (see modules/registry)."
  type        = number
  default     = 1
}

variable "spark_max_cpu" {
  description = "Ceiling on vCPUs of all featurelake Spark jobs running at once (the cost cap)."
  type        = string
  default     = "200 vCPU"
}

variable "spark_max_memory" {
  description = "Ceiling on memory of all featurelake Spark jobs running at once."
  type        = string
  default     = "1000 GB"
}

variable "extra_online_clients" {
  description = "Other security groups allowed to reach Redis, keyed by label (e.g. { serving = sg-... } for an online serving tier in this VPC). Empty by default: only Spark jobs."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.extra_online_clients : k != "spark" && can(regex("^sg-[0-9a-f]+$", v))])
    error_message = "extra_online_clients values must be security group ids (sg-...) and \"spark\" is reserved."
  }
}

variable "extra_registry_clients" {
  description = "Other security groups allowed to reach the registry, keyed by label (e.g. { ci = sg-... } for a migration runner in this VPC). Empty by default: only Spark jobs."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.extra_registry_clients : k != "spark" && can(regex("^sg-[0-9a-f]+$", v))])
    error_message = "extra_registry_clients values must be security group ids (sg-...) and \"spark\" is reserved."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the project/environment tags)."
  type        = map(string)
  default     = {}
}
