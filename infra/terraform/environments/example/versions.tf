terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }

  # The state holds the Redis AUTH token (ElastiCache has no write-only attribute for it):
  # keep it in an encrypted, access-controlled backend, e.g.
  #   backend "s3" {
  #     bucket       = "my-terraform-state"
  #     key          = "featurelake/prod.tfstate"
  #     region       = "eu-west-1"
  #     encrypt      = true
  #     kms_key_id   = "alias/terraform-state"
  #     use_lockfile = true
  #   }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "featurelake:project"     = var.project
      "featurelake:environment" = var.environment
      "managed-by"              = "terraform"
    })
  }
}
