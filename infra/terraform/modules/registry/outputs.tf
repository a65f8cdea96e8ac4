output "address" {
  description = "Host name of the database (private)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "TCP port of the database."
  value       = var.port
}

output "database_name" {
  description = "Name of the registry database."
  value       = var.database_name
}

output "url_secret_arn" {
  description = "ARN of the secret holding the registry's SQLAlchemy URL (registry.url_env's value at run time)."
  value       = aws_secretsmanager_secret.url.arn
}

output "url_secret_name" {
  description = "Name of the secret holding the registry's SQLAlchemy URL."
  value       = aws_secretsmanager_secret.url.name
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}
