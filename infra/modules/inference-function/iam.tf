# Execution role: read the model prefix, write to this function's own log group, nothing else.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = coalesce(var.role_name, "${var.function_name}-exec")
  description          = "Execution role of the ${var.function_name} inference function."
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
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
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []

    content {
      sid = "WriteTraces"
      # X-Ray has no resource-level permissions for these actions.
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.decrypt_key_arns) > 0 ? [1] : []

    content {
      sid       = "DecryptWithGivenKeys"
      actions   = ["kms:Decrypt"]
      resources = local.decrypt_key_arns
    }
  }
}

locals {
  decrypt_key_arns = distinct(compact([var.kms_key_arn, var.model_kms_key_arn]))
}

resource "aws_iam_role_policy" "this" {
  name   = "inference"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
