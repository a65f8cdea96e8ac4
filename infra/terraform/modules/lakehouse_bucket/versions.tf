terraform {
  # 1.11: ephemeral resources and write-only attributes keep generated passwords out of state.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is the version CI validates against (offline mirror); 6.x changed several of
      # the resource schemas used here, so it is excluded until validated.
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
