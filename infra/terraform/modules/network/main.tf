# A private-only VPC: no internet gateway, no NAT, no public subnets. AWS APIs are reached
# through VPC endpoints (S3 gateway endpoint, interface endpoints for the rest), so Spark
# workers, Redis and PostgreSQL have no path to or from the internet.

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true # interface endpoints rely on private DNS
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Take over the default security group and leave it with no rules, so nothing that lands in
# it by accident can talk to anything (CIS AWS Foundations 5.4).
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

# --- Spark workers -------------------------------------------------------------------------

resource "aws_security_group" "spark" {
  name        = "${var.name}-spark"
  description = "EMR Serverless workers of featurelake jobs; the only client admitted by Redis and the registry"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-spark" })
}

# Driver <-> executor traffic between the job's own workers.
resource "aws_vpc_security_group_ingress_rule" "spark_self" {
  security_group_id            = aws_security_group.spark.id
  description                  = "Spark driver and executors of the same application"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.spark.id
}

resource "aws_vpc_security_group_egress_rule" "spark_self" {
  security_group_id            = aws_security_group.spark.id
  description                  = "Spark driver and executors of the same application"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.spark.id
}

resource "aws_vpc_security_group_egress_rule" "spark_vpc" {
  for_each = toset([for p in var.spark_egress_tcp_ports : tostring(p)])

  security_group_id = aws_security_group.spark.id
  description       = "Spark to services inside the VPC on port ${each.value}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "spark_s3" {
  security_group_id = aws_security_group.spark.id
  description       = "Spark to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

# --- Interface endpoints -------------------------------------------------------------------

resource "aws_security_group" "endpoints" {
  count = length(var.interface_endpoint_services) > 0 ? 1 : 0

  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints; HTTPS from the Spark workers only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_spark" {
  count = length(var.interface_endpoint_services) > 0 ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from Spark workers"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.spark.id
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoint_services)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]
  tags                = merge(var.tags, { Name = "${var.name}-${each.value}" })
}
