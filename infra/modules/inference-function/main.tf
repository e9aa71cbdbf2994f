# Lambda function served from a container image in this module's ECR repository, published behind an
# alias and exposed through an IAM-authenticated function URL. Lambda has no GPUs: this is the CPU path.

data "aws_caller_identity" "current" {}

locals {
  ecr_repository_name = coalesce(var.ecr_repository_name, lower(var.function_name))
  log_group_name      = "/aws/lambda/${var.function_name}"
  model_bucket_name   = split(":::", var.model_bucket_arn)[1]
  image_uri = (
    var.image_uri != null ? var.image_uri :
    var.image_tag != null ? "${aws_ecr_repository.this.repository_url}:${var.image_tag}" : null
  )

  environment = merge(var.environment, { MODEL_URI = var.model_uri })
}

resource "aws_ecr_repository" "this" {
  name                 = local.ecr_repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = var.kms_key_arn != null ? "KMS" : "AES256"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last ${var.ecr_keep_images} images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.ecr_keep_images
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously through the function URL; a DLQ only receives failed asynchronous invocations.
  #checkov:skip=CKV_AWS_117:Reads only S3 and CloudWatch over AWS endpoints; no private resources to reach, and a VPC adds ENI cold-start cost.
  #checkov:skip=CKV_AWS_272:Lambda code signing applies to .zip packages only; container images are pinned by immutable ECR tags and scanned on push.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn
  package_type  = "Image"
  image_uri     = local.image_uri
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout
  publish       = true
  kms_key_arn   = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrent_executions

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = var.tags

  lifecycle {
    # `sdk deploy` points the function at each new model version (MODEL_URI) and publishes a version; a later
    # `terraform apply` must not send it back to the model it was created with.
    ignore_changes = [environment[0].variables["MODEL_URI"]]

    precondition {
      condition     = var.image_uri != null || var.image_tag != null
      error_message = "Set image_uri, or image_tag for an image pushed to this module's ECR repository."
    }
    precondition {
      condition     = startswith(var.model_uri, "s3://${local.model_bucket_name}/${var.model_prefix}")
      error_message = "model_uri must lie below s3://BUCKET/MODEL_PREFIX of model_bucket_arn and model_prefix: the role may read nothing else."
    }
  }

  # The log group must exist (with its retention) before Lambda creates one, and the role must carry its
  # policy before the first invocation.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
  ]
}

resource "aws_lambda_alias" "this" {
  name             = var.alias_name
  description      = "Traffic-serving alias; the function URL points here."
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  # `sdk deploy` / `sdk rollback` move the alias (and its canary weights) between published versions.
  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  qualifier          = aws_lambda_alias.this.name
  authorization_type = "AWS_IAM"

  dynamic "cors" {
    for_each = var.cors != null ? [var.cors] : []

    content {
      allow_origins     = cors.value.allow_origins
      allow_methods     = cors.value.allow_methods
      allow_headers     = cors.value.allow_headers
      expose_headers    = cors.value.expose_headers
      allow_credentials = cors.value.allow_credentials
      max_age           = cors.value.max_age
    }
  }
}

resource "aws_lambda_provisioned_concurrency_config" "this" {
  count = var.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_function.this.function_name
  qualifier                         = aws_lambda_alias.this.name
  provisioned_concurrent_executions = var.provisioned_concurrency
}
