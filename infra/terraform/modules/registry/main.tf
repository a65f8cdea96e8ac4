# The registry database: RDS for PostgreSQL, Multi-AZ, encrypted, reachable only from the
# listed security groups inside private subnets, deletion-protected. Its credentials live in
# Secrets Manager as the full SQLAlchemy URL that featurelake's registry.url_env expects.

locals {
  major_version = split(".", var.engine_version)[0]
}

resource "aws_db_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of the ${var.name} registry database"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-postgres"
  description = "Registry PostgreSQL: admits only the listed client security groups"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-postgres" })
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = var.client_security_groups

  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  referenced_security_group_id = each.value
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = "postgres${local.major_version}"
  description = "featurelake registry: TLS required"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000" # log statements slower than 1 s
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

# Drawn fresh on every run but only used when password_version changes (write-only
# attributes below), so it never lands in the plan or the state. Alphanumeric: it is embedded
# in a URL.
ephemeral "aws_secretsmanager_random_password" "master" {
  password_length     = 40
  exclude_punctuation = true
  include_space       = false
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name             = var.database_name
  username            = var.username
  password_wo         = ephemeral.aws_secretsmanager_random_password.master.random_password
  password_wo_version = var.password_version
  port                = var.port

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = true
  publicly_accessible    = false
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  parameter_group_name   = aws_db_parameter_group.this.name

  backup_retention_period   = var.backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"
  delete_automated_backups  = false

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  tags = var.tags
}

resource "aws_secretsmanager_secret" "url" {
  name_prefix             = "${var.name}-registry-url-"
  description             = "SQLAlchemy URL of the ${var.name} featurelake registry (plain text, includes the password)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id = aws_secretsmanager_secret.url.id
  # sslmode=require encrypts; rds.force_ssl refuses plain connections on the server side too.
  # For verify-full, ship the RDS CA bundle and add sslrootcert=... (see docs/deploy.md).
  secret_string_wo         = "postgresql+psycopg://${var.username}:${ephemeral.aws_secretsmanager_random_password.master.random_password}@${aws_db_instance.this.address}:${var.port}/${var.database_name}?sslmode=require"
  secret_string_wo_version = var.password_version
}
