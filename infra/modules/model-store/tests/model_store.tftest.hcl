# Unit tests: no AWS calls. Run with `terraform init && terraform test` in the module folder.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      id  = "aiaas-unit-models"
      arn = "arn:aws:s3:::aiaas-unit-models"
    }
  }
}

variables {
  bucket_name = "aiaas-unit-models"
}

run "defaults_make_a_private_versioned_sse_s3_bucket" {
  command = apply

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    error_message = "Without a KMS key the bucket must use SSE-S3 (AES256)."
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "All four public access block settings must be true."
  }

  assert {
    condition     = aws_s3_bucket.this.force_destroy == false
    error_message = "force_destroy must default to false."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0
    error_message = "Access logging must be off without access_log_bucket."
  }

  assert {
    condition     = output.model_store_uri == "s3://aiaas-unit-models/models/"
    error_message = "model_store_uri must be s3://BUCKET/models/ by default."
  }

  assert {
    condition     = output.model_prefix_arn == "arn:aws:s3:::aiaas-unit-models/models/*"
    error_message = "model_prefix_arn must cover the objects below the prefix."
  }
}

run "bucket_policy_denies_insecure_transport" {
  command = plan

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.tls_only.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") && anytrue([
        for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false")
      ])
    ])
    error_message = "The bucket policy must deny every request made without TLS."
  }

  assert {
    condition     = length(aws_s3_bucket_policy.this) == 1
    error_message = "The TLS-only bucket policy is attached by default."
  }
}

run "tls_policy_can_be_switched_off_for_a_local_stand_in" {
  command = plan

  variables {
    enforce_tls = false
  }

  assert {
    condition     = length(aws_s3_bucket_policy.this) == 0
    error_message = "enforce_tls = false attaches no bucket policy."
  }
}

run "lifecycle_expires_noncurrent_versions_and_aborts_uploads" {
  command = plan

  variables {
    noncurrent_version_expiration_days     = 14
    abort_incomplete_multipart_upload_days = 2
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration[0].noncurrent_days == 14
    error_message = "Noncurrent versions must expire after noncurrent_version_expiration_days."
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this.rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 2
    error_message = "Incomplete multipart uploads must be aborted after abort_incomplete_multipart_upload_days."
  }
}

run "kms_key_switches_to_sse_kms_with_bucket_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
    error_message = "A KMS key must switch encryption to SSE-KMS."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.kms_key_arn
    error_message = "SSE-KMS must use the given key."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == true
    error_message = "S3 Bucket Keys must be on with SSE-KMS (fewer KMS requests)."
  }
}

run "access_log_bucket_enables_logging" {
  command = plan

  variables {
    access_log_bucket = "aiaas-unit-logs"
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 1 && aws_s3_bucket_logging.this[0].target_bucket == "aiaas-unit-logs"
    error_message = "access_log_bucket must enable server access logging to that bucket."
  }
}

run "custom_prefix_flows_to_outputs" {
  command = apply

  variables {
    model_prefix = "artifacts/onnx/"
  }

  assert {
    condition     = output.model_store_uri == "s3://aiaas-unit-models/artifacts/onnx/"
    error_message = "model_store_uri must use the given prefix."
  }
}

run "rejects_invalid_bucket_name" {
  command = plan

  variables {
    bucket_name = "Aiaas_Models"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_prefix_without_trailing_slash" {
  command = plan

  variables {
    model_prefix = "models"
  }

  expect_failures = [var.model_prefix]
}

run "rejects_absolute_prefix" {
  command = plan

  variables {
    model_prefix = "/models/"
  }

  expect_failures = [var.model_prefix]
}

run "rejects_malformed_kms_key_arn" {
  command = plan

  variables {
    kms_key_arn = "alias/aiaas"
  }

  expect_failures = [var.kms_key_arn]
}

run "rejects_zero_day_lifecycle" {
  command = plan

  variables {
    noncurrent_version_expiration_days = 0
  }

  expect_failures = [var.noncurrent_version_expiration_days]
}
