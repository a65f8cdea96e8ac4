output "configuration_endpoint" {
  description = "Cluster configuration endpoint, host:port (online.nodes in featurelake.yaml: a cluster client discovers every shard from it)."
  value       = "${aws_elasticache_replication_group.this.configuration_endpoint_address}:${var.port}"
}

output "auth_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the AUTH token (plain text)."
  value       = aws_secretsmanager_secret.auth_token.arn
}

output "auth_token_secret_name" {
  description = "Name of the Secrets Manager secret holding the AUTH token."
  value       = aws_secretsmanager_secret.auth_token.name
}

output "security_group_id" {
  description = "Security group of the Redis nodes."
  value       = aws_security_group.this.id
}

output "replication_group_arn" {
  description = "ARN of the replication group."
  value       = aws_elasticache_replication_group.this.arn
}
