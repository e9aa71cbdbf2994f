# Execution role of the SageMaker model: pull the image, read the model prefix, write the endpoint's logs and,
# for asynchronous inference, write results and publish notifications.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = coalesce(var.role_name, "${var.name}-sagemaker")
  description          = "Execution role of the ${var.name} SageMaker endpoint."
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

locals {
  async_output_arns = local.async_enabled ? [
    for p in compact([var.async_inference.s3_output_path, var.async_inference.s3_failure_path]) :
    "arn:${data.aws_partition.current.partition}:s3:::${trimsuffix(trimprefix(p, "s3://"), "/")}/*"
  ] : []
  async_topic_arns = local.async_enabled ? compact([var.async_inference.success_topic_arn, var.async_inference.error_topic_arn]) : []
  decrypt_key_arns = distinct(compact([var.model_kms_key_arn]))
  async_key_arns   = local.async_enabled ? compact([var.async_inference.kms_key_arn]) : []
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${var.model_bucket_arn}/${var.model_prefix}*"]
  }

  dynamic "statement" {
    # Chunked versions (sdk.artifacts.chunks) are assembled from the store root's .chunks/ folder, which a narrowed
    # model_prefix leaves out. Read only: no listing, so only the chunks a readable manifest names can be fetched.
    for_each = var.chunk_prefix != null && !startswith(coalesce(var.chunk_prefix, "-"), var.model_prefix) ? [1] : []

    content {
      sid       = "ReadModelChunks"
      actions   = ["s3:GetObject"]
      resources = ["${var.model_bucket_arn}/${var.chunk_prefix}*"]
    }
  }

  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket"]
    resources = [var.model_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.model_prefix, "${var.model_prefix}*"]
    }
  }

  statement {
    sid = "WriteEndpointLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid = "PutEndpointMetrics"
    # CloudWatch metrics have no resource-level permissions; the namespace condition scopes the action.
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []

    content {
      sid = "PullImage"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = var.ecr_repository_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []

    content {
      sid = "EcrLogin"
      # GetAuthorizationToken is account-wide: it has no resource-level permissions.
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.decrypt_key_arns) > 0 ? [1] : []

    content {
      sid       = "DecryptModels"
      actions   = ["kms:Decrypt"]
      resources = local.decrypt_key_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.async_output_arns) > 0 ? [1] : []

    content {
      sid       = "WriteAsyncResults"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = local.async_output_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.async_topic_arns) > 0 ? [1] : []

    content {
      sid       = "NotifyAsyncResults"
      actions   = ["sns:Publish"]
      resources = local.async_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.async_key_arns) > 0 ? [1] : []

    content {
      sid       = "EncryptAsyncResults"
      actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
      resources = local.async_key_arns
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "sagemaker-endpoint"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
