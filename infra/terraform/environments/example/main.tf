# Example production environment: every module wired together. Copy this folder per
# environment, set bucket_name (and usually region) in terraform.tfvars, plan, apply.

locals {
  name = "featurelake-${var.environment}"

  # Environment variable names the settings file refers to (registry.url_env,
  # online.password_env); the Spark jobs receive the secrets under exactly these names.
  registry_url_env    = "FEATURELAKE_REGISTRY_URL"
  online_password_env = "FEATURELAKE_REDIS_PASSWORD"
}

module "kms" {
  source = "../../modules/kms_key"

  alias = local.name
}

module "network" {
  source = "../../modules/network"

  name                    = local.name
  cidr_block              = var.vpc_cidr
  availability_zone_count = var.availability_zone_count
}

module "lakehouse_bucket" {
  source = "../../modules/lakehouse_bucket"

  bucket_name = var.bucket_name
  kms_key_arn = module.kms.key_arn
}

module "online_store" {
  source = "../../modules/online_store"

  name                   = "${local.name}-online"
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  client_security_groups = merge(var.extra_online_clients, { spark = module.network.spark_security_group_id })
  kms_key_arn            = module.kms.key_arn
  node_type              = var.redis_node_type
  shard_count            = var.redis_shard_count
  replicas_per_shard     = var.redis_replicas_per_shard
}

module "registry" {
  source = "../../modules/registry"

  name                   = "${local.name}-registry"
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  client_security_groups = merge(var.extra_registry_clients, { spark = module.network.spark_security_group_id })
  kms_key_arn            = module.kms.key_arn
  instance_class         = var.registry_instance_class
  password_version       = var.registry_password_version
}

module "spark" {
  source = "../../modules/spark"

  name               = local.name
  subnet_ids         = module.network.private_subnet_ids
  security_group_ids = [module.network.spark_security_group_id]
  bucket_name        = module.lakehouse_bucket.bucket_name
  bucket_arn         = module.lakehouse_bucket.bucket_arn
  prefix             = var.lake_prefix
  kms_key_arn        = module.kms.key_arn
  max_cpu            = var.spark_max_cpu
  max_memory         = var.spark_max_memory

  secrets = {
    (local.registry_url_env) = {
      arn  = module.registry.url_secret_arn
      name = module.registry.url_secret_name
    }
    (local.online_password_env) = {
      arn  = module.online_store.auth_token_secret_arn
      name = module.online_store.auth_token_secret_name
    }
  }
}

locals {
  # featurelake.yaml, one value per settings key; the settings_* outputs expose each one.
  settings = {
    project             = var.project
    storage_root        = module.spark.lake_uri
    storage_s3_region   = var.region
    registry_url_env    = local.registry_url_env
    online_nodes        = [module.online_store.configuration_endpoint]
    online_ssl          = true
    online_password_env = local.online_password_env
  }
}
