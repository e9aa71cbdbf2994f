# Dev environment: the model store, the CPU inference function and the GPU endpoint, wired together.

data "aws_caller_identity" "current" {}

locals {
  bucket_name   = coalesce(var.model_bucket_name, "${var.name}-models-${data.aws_caller_identity.current.account_id}")
  gpu_image_tag = coalesce(var.gpu_image_tag, "${var.image_tag}-gpu")
}

module "model_store" {
  source = "../../modules/model-store"

  bucket_name                        = local.bucket_name
  model_prefix                       = var.model_prefix
  kms_key_arn                        = var.kms_key_arn
  force_destroy                      = var.force_destroy
  enforce_tls                        = var.model_store_enforce_tls
  noncurrent_version_expiration_days = 30
}

module "inference_function" {
  source = "../../modules/inference-function"

  function_name     = "${var.name}-inference"
  image_tag         = var.image_tag
  architecture      = var.function_architecture
  memory_size       = var.function_memory_size
  timeout           = var.function_timeout
  model_bucket_arn  = module.model_store.bucket_arn
  model_prefix      = module.model_store.model_prefix
  model_uri         = module.model_store.model_store_uri
  model_kms_key_arn = var.kms_key_arn
  environment       = var.function_environment
  alias_name        = var.function_alias

  provisioned_concurrency = var.provisioned_concurrency
  cors                    = var.function_cors
  log_retention_days      = var.log_retention_days
  ecr_force_delete        = var.force_destroy
  alarm_actions           = var.alarm_actions
  ok_actions              = var.alarm_actions
}

module "gpu_endpoint" {
  source = "../../modules/gpu-endpoint"
  count  = var.create_gpu_endpoint ? 1 : 0

  name                = "${var.name}-gpu"
  image_uri           = "${module.inference_function.ecr_repository_url}:${local.gpu_image_tag}"
  ecr_repository_arns = [module.inference_function.ecr_repository_arn]
  model_bucket_arn    = module.model_store.bucket_arn
  model_prefix        = module.model_store.model_prefix
  model_uri           = module.model_store.model_store_uri
  model_kms_key_arn   = var.kms_key_arn
  instance_type       = var.gpu_instance_type

  async_inference = var.gpu_async ? {
    s3_output_path  = "s3://${module.model_store.bucket_name}/async/results/"
    s3_failure_path = "s3://${module.model_store.bucket_name}/async/failures/"
    kms_key_arn     = var.kms_key_arn
  } : null

  autoscaling_enabled      = var.gpu_autoscaling_enabled
  autoscaling_min_capacity = var.gpu_async ? 0 : 1
  autoscaling_max_capacity = var.gpu_max_instances
  log_retention_days       = var.log_retention_days
}
