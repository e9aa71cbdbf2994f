# SageMaker real-time (or asynchronous) endpoint on a GPU instance. This is the GPU path: Lambda has no GPUs and
# SageMaker Serverless Inference is CPU-only.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  variant_name      = "primary"
  model_bucket_name = split(":::", var.model_bucket_arn)[1]
  log_group_name    = "/aws/sagemaker/Endpoints/${var.name}"
  environment       = merge(var.environment, { MODEL_URI = var.model_uri })
  async_enabled     = var.async_inference != null

  # SageMaker models and endpoint configurations cannot be changed in place. Their names carry a hash of what
  # they hold, so a change creates a new one before the endpoint switches to it and the old one is deleted.
  model_hash = substr(sha1(jsonencode({
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = local.environment
    role           = aws_iam_role.this.name
  })), 0, 8)
  config_hash = substr(sha1(jsonencode({
    model          = local.model_hash
    instance_type  = var.instance_type
    instance_count = var.initial_instance_count
    volume_kms     = var.kms_key_arn
    async          = var.async_inference
  })), 0, 8)
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:The serving container reads MODEL_URI from the model store itself, which network isolation forbids; it runs with no VPC access and a least-privilege role.
  name               = "${var.name}-${local.model_hash}"
  execution_role_arn = aws_iam_role.this.arn

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = local.environment
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = startswith(var.model_uri, "s3://${local.model_bucket_name}/${var.model_prefix}")
      error_message = "model_uri must lie below s3://BUCKET/MODEL_PREFIX of model_bucket_arn and model_prefix: the role may read nothing else."
    }
    precondition {
      condition     = var.model_data_url == null || startswith(coalesce(var.model_data_url, "-"), "s3://${local.model_bucket_name}/${var.model_prefix}")
      error_message = "model_data_url must lie below s3://BUCKET/MODEL_PREFIX of model_bucket_arn and model_prefix: the role may read nothing else."
    }
  }

  # The role needs its policy before SageMaker pulls the image and the model data.
  depends_on = [aws_iam_role_policy.this]
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = "${var.name}-${local.config_hash}"
  kms_key_arn = var.kms_key_arn

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.this.name
    instance_type          = var.instance_type
    initial_instance_count = var.initial_instance_count

    container_startup_health_check_timeout_in_seconds = var.container_startup_health_check_timeout
  }

  dynamic "async_inference_config" {
    for_each = local.async_enabled ? [var.async_inference] : []

    content {
      output_config {
        s3_output_path  = async_inference_config.value.s3_output_path
        s3_failure_path = async_inference_config.value.s3_failure_path
        kms_key_id      = async_inference_config.value.kms_key_arn

        dynamic "notification_config" {
          for_each = async_inference_config.value.success_topic_arn != null || async_inference_config.value.error_topic_arn != null ? [1] : []

          content {
            success_topic = async_inference_config.value.success_topic_arn
            error_topic   = async_inference_config.value.error_topic_arn
          }
        }
      }

      client_config {
        max_concurrent_invocations_per_instance = async_inference_config.value.max_concurrent_invocations_per_instance
      }
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = var.tags

  # `sdk deploy --target sagemaker` moves the endpoint to each new model's endpoint configuration.
  lifecycle {
    ignore_changes = [endpoint_config_name]
  }

  depends_on = [aws_cloudwatch_log_group.this]
}
