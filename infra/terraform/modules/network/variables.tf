variable "name" {
  description = "Name prefix for the VPC and everything in it (lower-case letters, digits, '-')."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or '-', starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC, /16 to /22. Private subnets are carved out of it as /(prefix+4) blocks, one per availability zone."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 22
    error_message = "cidr_block must be an IPv4 CIDR with a prefix length between /16 and /22 (e.g. 10.42.0.0/16)."
  }
}

variable "availability_zone_count" {
  description = "Number of availability zones (one private subnet each). Multi-AZ Redis and RDS need at least 2; 3 survives the loss of one zone with capacity to spare."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 6 && floor(var.availability_zone_count) == var.availability_zone_count
    error_message = "availability_zone_count must be a whole number between 2 and 6."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface VPC endpoints (the subnets have no route to the internet). S3 always gets a gateway endpoint. Each interface endpoint costs per hour and per AZ."
  type        = list(string)
  default     = ["secretsmanager", "sts"]

  validation {
    condition     = alltrue([for s in var.interface_endpoint_services : contains(["secretsmanager", "sts", "logs", "monitoring", "kms", "ecr.api", "ecr.dkr"], s)])
    error_message = "interface_endpoint_services may only contain: secretsmanager, sts, logs, monitoring, kms, ecr.api, ecr.dkr."
  }
}

variable "spark_egress_tcp_ports" {
  description = "TCP ports the Spark workers may open inside the VPC: 443 (interface endpoints), 5432 (registry), 6379 (Redis). Ingress on the target side is still limited to the Spark security group."
  type        = list(number)
  default     = [443, 5432, 6379]

  validation {
    condition     = alltrue([for p in var.spark_egress_tcp_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "spark_egress_tcp_ports must be whole port numbers between 1 and 65535."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
