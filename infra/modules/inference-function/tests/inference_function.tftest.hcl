# Unit tests: no AWS calls. Run with `terraform init && terraform test` in the module folder.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/aiaas-unit-inference-exec"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/aiaas-unit-inference"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-unit-inference"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/aiaas-unit-inference"
    }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn     = "arn:aws:lambda:us-east-1:123456789012:function:aiaas-unit-inference"
      version = "1"
    }
  }

  mock_resource "aws_lambda_alias" {
    defaults = {
      arn = "arn:aws:lambda:us-east-1:123456789012:function:aiaas-unit-inference:live"
    }
  }

  mock_resource "aws_lambda_function_url" {
    defaults = {
      function_url = "https://abc123.lambda-url.us-east-1.on.aws/"
    }
  }

  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = {
      arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:aiaas-unit-inference"
    }
  }
}

variables {
  function_name    = "aiaas-unit-inference"
  image_tag        = "0.1.0"
  model_bucket_arn = "arn:aws:s3:::aiaas-unit-models"
  model_uri        = "s3://aiaas-unit-models/models/"
}

run "defaults_deploy_image_behind_iam_function_url_on_live_alias" {
  command = apply

  assert {
    condition     = aws_lambda_function.this.package_type == "Image" && aws_lambda_function.this.publish
    error_message = "The function must run a container image and publish a version."
  }

  assert {
    condition     = aws_lambda_function.this.image_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-unit-inference:0.1.0"
    error_message = "image_tag must select an image in the module's own ECR repository."
  }

  assert {
    condition     = one(aws_lambda_function.this.architectures) == "x86_64" && aws_lambda_function.this.memory_size == 2048 && aws_lambda_function.this.timeout == 30
    error_message = "Default architecture, memory and timeout changed."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MODEL_URI"] == "s3://aiaas-unit-models/models/"
    error_message = "MODEL_URI must be set from model_uri."
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "X-Ray tracing must be Active by default."
  }

  assert {
    condition     = aws_lambda_alias.this.name == "live" && output.alias_name == "live"
    error_message = "The alias must default to 'live'."
  }

  assert {
    condition     = aws_lambda_function_url.this.authorization_type == "AWS_IAM" && aws_lambda_function_url.this.qualifier == "live"
    error_message = "The function URL must require IAM auth and point to the alias."
  }

  assert {
    condition     = length(aws_lambda_function_url.this.cors) == 0
    error_message = "No CORS block without var.cors."
  }

  assert {
    condition     = length(aws_lambda_provisioned_concurrency_config.this) == 0
    error_message = "Provisioned concurrency must be off by default."
  }

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    error_message = "ECR tags must be immutable and images scanned on push."
  }

  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection.countNumber == 10
    error_message = "The ECR lifecycle policy must keep the last 10 images by default."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/aiaas-unit-inference" && aws_cloudwatch_log_group.this.retention_in_days == 365
    error_message = "The log group must be the function's own, with a retention."
  }

  assert {
    condition     = output.function_url == "https://abc123.lambda-url.us-east-1.on.aws/"
    error_message = "function_url output must come from the function URL."
  }
}

run "role_reads_only_the_model_prefix_and_writes_only_its_log_group" {
  command = apply

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "ReadModels"
      ]) == toset(["arn:aws:s3:::aiaas-unit-models/models/*"]) && one([
      for s in data.aws_iam_policy_document.this.statement : s.actions if s.sid == "ReadModels"
    ]) == toset(["s3:GetObject"])
    error_message = "s3:GetObject must be granted on BUCKET/models/* only."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.this.statement :
      s.sid == "ListModels" && s.resources == toset(["arn:aws:s3:::aiaas-unit-models"]) && anytrue([
        for c in s.condition : c.variable == "s3:prefix" && contains(c.values, "models/*")
      ])
    ])
    error_message = "s3:ListBucket must be conditioned on the model prefix."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "WriteOwnLogs"
    ]) == toset(["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/aiaas-unit-inference:*"])
    error_message = "Log writes must be limited to the function's own log group."
  }

  assert {
    condition     = contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "WriteTraces")
    error_message = "Active tracing needs the X-Ray write statement."
  }

  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "DecryptWithGivenKeys")
    error_message = "No kms:Decrypt without a KMS key."
  }
}

run "passthrough_tracing_drops_xray_permissions" {
  command = plan

  variables {
    tracing_mode = "PassThrough"
  }

  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "WriteTraces")
    error_message = "PassThrough tracing must not grant X-Ray writes."
  }
}

run "provisioned_concurrency_targets_the_alias" {
  command = plan

  variables {
    provisioned_concurrency = 4
  }

  assert {
    condition     = length(aws_lambda_provisioned_concurrency_config.this) == 1
    error_message = "provisioned_concurrency > 0 must create the configuration."
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.this[0].qualifier == "live" && aws_lambda_provisioned_concurrency_config.this[0].provisioned_concurrent_executions == 4
    error_message = "Provisioned concurrency must apply to the alias with the given count."
  }
}

run "cors_block_is_rendered_when_given" {
  command = plan

  variables {
    cors = {
      allow_origins = ["https://app.example.com"]
      max_age       = 300
    }
  }

  assert {
    condition     = length(aws_lambda_function_url.this.cors) == 1
    error_message = "var.cors must render one CORS block."
  }

  assert {
    condition     = aws_lambda_function_url.this.cors[0].allow_origins == toset(["https://app.example.com"]) && aws_lambda_function_url.this.cors[0].allow_methods == toset(["POST"])
    error_message = "CORS must use the given origins and default to POST."
  }
}

run "kms_key_encrypts_logs_env_and_images_and_grants_decrypt" {
  command = plan

  variables {
    kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    model_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000"
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn && aws_lambda_function.this.kms_key_arn == var.kms_key_arn
    error_message = "The log group and environment must be encrypted with the given key."
  }

  assert {
    condition     = aws_ecr_repository.this.encryption_configuration[0].encryption_type == "KMS"
    error_message = "The ECR repository must use KMS when a key is given."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "DecryptWithGivenKeys"
    ]) == toset([var.kms_key_arn, var.model_kms_key_arn])
    error_message = "The role must get kms:Decrypt on exactly the given keys."
  }
}

run "alarms_cover_errors_throttles_and_p99_duration" {
  command = plan

  variables {
    alarm_actions = ["arn:aws:sns:us-east-1:123456789012:alerts"]
    timeout       = 60
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset(["errors", "throttles", "p99-duration"])
    error_message = "Expected the errors, throttles and p99-duration alarms."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["p99-duration"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["p99-duration"].threshold == 48000
    error_message = "The latency alarm must use p99 and default to 80% of the timeout."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["errors"].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:alerts"])
    error_message = "Alarms must notify the given actions."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["errors"].dimensions["Resource"] == "aiaas-unit-inference:live"
    error_message = "Alarms must watch the alias."
  }
}

run "alarms_can_be_turned_off" {
  command = plan

  variables {
    create_alarms = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0
    error_message = "create_alarms = false must create no alarms."
  }
}

run "explicit_image_uri_wins_over_tag" {
  command = plan

  variables {
    image_uri    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/other@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    architecture = "arm64"
  }

  assert {
    condition     = aws_lambda_function.this.image_uri == var.image_uri && one(aws_lambda_function.this.architectures) == "arm64"
    error_message = "image_uri and architecture must be used as given."
  }
}

run "rejects_missing_image" {
  command = plan

  variables {
    image_tag = null
  }

  expect_failures = [aws_lambda_function.this]
}

run "rejects_model_uri_outside_the_readable_prefix" {
  command = plan

  variables {
    model_uri = "s3://another-bucket/models/"
  }

  expect_failures = [aws_lambda_function.this]
}

run "rejects_memory_below_128" {
  command = plan

  variables {
    memory_size = 64
  }

  expect_failures = [var.memory_size]
}

run "rejects_memory_above_10240" {
  command = plan

  variables {
    memory_size = 10241
  }

  expect_failures = [var.memory_size]
}

run "rejects_timeout_above_900" {
  command = plan

  variables {
    timeout = 901
  }

  expect_failures = [var.timeout]
}

run "rejects_unknown_architecture" {
  command = plan

  variables {
    architecture = "amd64"
  }

  expect_failures = [var.architecture]
}

run "rejects_retention_cloudwatch_does_not_allow" {
  command = plan

  variables {
    log_retention_days = 15
  }

  expect_failures = [var.log_retention_days]
}

run "rejects_numeric_alias" {
  command = plan

  variables {
    alias_name = "7"
  }

  expect_failures = [var.alias_name]
}

run "rejects_reserved_environment_keys" {
  command = plan

  variables {
    environment = { AWS_REGION = "eu-west-1" }
  }

  expect_failures = [var.environment]
}

run "rejects_non_ecr_image" {
  command = plan

  variables {
    image_uri = "docker.io/library/python:3.11"
  }

  expect_failures = [var.image_uri]
}

run "rejects_bad_function_name_and_tracing_mode" {
  command = plan

  variables {
    function_name = "has spaces"
    tracing_mode  = "On"
  }

  expect_failures = [var.function_name, var.tracing_mode]
}

run "a_narrowed_prefix_reads_the_store_chunks_only_when_given_them" {
  command = apply

  variables {
    model_prefix = "models/minilm-l6/"
    model_uri    = "s3://aiaas-unit-models/models/minilm-l6/"
    chunk_prefix = "models/.chunks/"
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "ReadModelChunks"
      ]) == toset(["arn:aws:s3:::aiaas-unit-models/models/.chunks/*"]) && one([
      for s in data.aws_iam_policy_document.this.statement : s.actions if s.sid == "ReadModelChunks"
    ]) == toset(["s3:GetObject"])
    error_message = "A narrowed model_prefix with chunk_prefix must get s3:GetObject on BUCKET/models/.chunks/* only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "ReadModels"
    ]) == toset(["arn:aws:s3:::aiaas-unit-models/models/minilm-l6/*"])
    error_message = "ReadModels must stay on the narrowed prefix."
  }
}

run "chunks_inside_the_model_prefix_need_no_statement" {
  command = apply

  variables {
    chunk_prefix = "models/.chunks/"
  }

  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "ReadModelChunks")
    error_message = "Chunks under model_prefix are readable already: no second statement."
  }
}

run "rejects_a_chunk_prefix_that_is_not_a_chunk_folder" {
  command = plan

  variables {
    chunk_prefix = "other/"
  }

  expect_failures = [var.chunk_prefix]
}
