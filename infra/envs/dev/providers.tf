# Production-style provider: credentials and endpoints come from the standard AWS chain (profile, SSO, env vars,
# instance role). Tests point it at a local AWS stand-in with AWS_ENDPOINT_URL and the skip_* variables below.
provider "aws" {
  region = var.region

  skip_credentials_validation = var.skip_credentials_validation
  skip_requesting_account_id  = var.skip_requesting_account_id
  skip_metadata_api_check     = var.skip_metadata_api_check
  s3_use_path_style           = var.s3_use_path_style
  max_retries                 = var.max_retries

  default_tags {
    tags = merge({ Project = "aiaas", Environment = var.environment }, var.tags)
  }
}
