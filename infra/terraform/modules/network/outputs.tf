output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Ids of the private subnets, one per availability zone."
  value       = aws_subnet.private[*].id
}

output "availability_zones" {
  description = "Availability zones of the private subnets, in subnet order."
  value       = local.azs
}

output "spark_security_group_id" {
  description = "Security group of the Spark workers: attach it to the EMR Serverless application and admit it in Redis and the registry."
  value       = aws_security_group.spark.id
}
