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

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/aiaas-unit-gpu-sagemaker"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/aiaas-unit-gpu"
    }
  }

  mock_resource "aws_sagemaker_model" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:model/aiaas-unit-gpu"
    }
  }

  mock_resource "aws_sagemaker_endpoint_configuration" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/aiaas-unit-gpu"
    }
  }

  mock_resource "aws_sagemaker_endpoint" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/aiaas-unit-gpu"
    }
  }

  mock_resource "aws_appautoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:resource/sagemaker/endpoint/aiaas-unit-gpu/variant/primary:policyName/aiaas-unit-gpu-scale-from-zero"
    }
  }
}

variables {
  name                = "aiaas-unit-gpu"
  image_uri           = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-unit:0.1.0-gpu"
  ecr_repository_arns = ["arn:aws:ecr:us-east-1:123456789012:repository/aiaas-unit"]
  model_bucket_arn    = "arn:aws:s3:::aiaas-unit-models"
  model_uri           = "s3://aiaas-unit-models/models/"
}

run "defaults_make_a_real_time_gpu_endpoint_with_autoscaling" {
  command = apply

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].instance_type == "ml.g5.xlarge"
    error_message = "The variant must default to a GPU instance (ml.g5.xlarge)."
  }

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.async_inference_config) == 0 && output.async_enabled == false
    error_message = "The endpoint must be real-time by default."
  }

  assert {
    condition     = aws_sagemaker_model.this.primary_container[0].environment["MODEL_URI"] == "s3://aiaas-unit-models/models/"
    error_message = "MODEL_URI must be passed to the container."
  }

  assert {
    condition     = aws_sagemaker_endpoint.this.endpoint_config_name == aws_sagemaker_endpoint_configuration.this.name
    error_message = "The endpoint must use the module's endpoint configuration."
  }

  assert {
    condition     = length(aws_appautoscaling_target.this) == 1 && aws_appautoscaling_target.this[0].resource_id == "endpoint/aiaas-unit-gpu/variant/primary"
    error_message = "Autoscaling must register the endpoint's variant."
  }

  assert {
    condition     = aws_appautoscaling_policy.target_tracking[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "SageMakerVariantInvocationsPerInstance"
    error_message = "A real-time endpoint must track invocations per instance."
  }

  assert {
    condition     = length(aws_appautoscaling_policy.scale_from_zero) == 0 && length(aws_cloudwatch_metric_alarm.backlog_without_capacity) == 0
    error_message = "No scale-from-zero machinery on a real-time endpoint."
  }

  assert {
    condition     = output.endpoint_name == "aiaas-unit-gpu"
    error_message = "endpoint_name must be the module's name."
  }
}

run "role_reads_models_writes_logs_and_pulls_only_the_given_repository" {
  command = apply

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "ReadModels"
    ]) == toset(["arn:aws:s3:::aiaas-unit-models/models/*"])
    error_message = "s3:GetObject must be granted on BUCKET/models/* only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "PullImage"
    ]) == toset(var.ecr_repository_arns)
    error_message = "Image pulls must be limited to the given repositories."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "WriteEndpointLogs"
    ]) == toset(["arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/aiaas-unit-gpu:*"])
    error_message = "Log writes must be limited to the endpoint's log group."
  }

  assert {
    condition     = length(setintersection(toset([for s in data.aws_iam_policy_document.this.statement : s.sid]), toset(["WriteAsyncResults", "NotifyAsyncResults", "DecryptModels"]))) == 0
    error_message = "No async or KMS permissions on a plain real-time endpoint."
  }
}

run "no_repository_means_no_ecr_permissions" {
  command = plan

  variables {
    ecr_repository_arns = []
  }

  assert {
    condition     = length(setintersection(toset([for s in data.aws_iam_policy_document.this.statement : s.sid]), toset(["PullImage", "EcrLogin"]))) == 0
    error_message = "Without repositories the role must not get ECR permissions."
  }
}

run "async_endpoint_scales_to_zero_on_backlog" {
  command = plan

  variables {
    async_inference = {
      s3_output_path    = "s3://aiaas-unit-models/async/results/"
      success_topic_arn = "arn:aws:sns:us-east-1:123456789012:done"
    }
    autoscaling_min_capacity = 0
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.async_inference_config[0].output_config[0].s3_output_path == "s3://aiaas-unit-models/async/results/"
    error_message = "The async config must write to the given output path."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.async_inference_config[0].output_config[0].notification_config[0].success_topic == "arn:aws:sns:us-east-1:123456789012:done"
    error_message = "The async config must notify the given topic."
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 0
    error_message = "An async endpoint may scale to zero."
  }

  assert {
    condition     = aws_appautoscaling_policy.target_tracking[0].target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metric_name == "ApproximateBacklogSizePerInstance"
    error_message = "An async endpoint must track the backlog per instance."
  }

  assert {
    condition     = length(aws_appautoscaling_policy.scale_from_zero) == 1 && aws_cloudwatch_metric_alarm.backlog_without_capacity[0].metric_name == "HasBacklogWithoutCapacity"
    error_message = "Scaling from zero needs the step policy and its HasBacklogWithoutCapacity alarm."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "WriteAsyncResults"
    ]) == toset(["arn:aws:s3:::aiaas-unit-models/async/results/*"])
    error_message = "The role must write async results to the output path only."
  }

  assert {
    condition     = contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "NotifyAsyncResults")
    error_message = "The role must be allowed to publish to the notification topic."
  }
}

run "autoscaling_can_be_turned_off" {
  command = plan

  variables {
    autoscaling_enabled = false
  }

  assert {
    condition     = length(aws_appautoscaling_target.this) == 0 && length(aws_appautoscaling_policy.target_tracking) == 0
    error_message = "autoscaling_enabled = false must create no autoscaling resources."
  }
}

run "kms_keys_encrypt_volume_and_grant_model_decrypt" {
  command = plan

  variables {
    instance_type     = "ml.p3.2xlarge"
    kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    model_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == var.kms_key_arn
    error_message = "The endpoint configuration must use the volume key."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.this.statement : s.resources if s.sid == "DecryptModels"
    ]) == toset([var.model_kms_key_arn])
    error_message = "The role must get kms:Decrypt on the model store key."
  }
}

run "configuration_name_changes_with_instance_type" {
  command = plan

  variables {
    instance_type = "ml.g6.xlarge"
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.name != "aiaas-unit-gpu-${substr(sha1(""), 0, 8)}" && startswith(aws_sagemaker_endpoint_configuration.this.name, "aiaas-unit-gpu-")
    error_message = "The configuration name must be NAME-HASH so a change creates a new configuration."
  }
}

run "rejects_scale_to_zero_on_real_time_endpoint" {
  command = plan

  variables {
    autoscaling_min_capacity = 0
  }

  expect_failures = [aws_appautoscaling_target.this]
}

run "rejects_model_data_outside_the_readable_prefix" {
  command = plan

  variables {
    model_data_url = "s3://aiaas-unit-models/other/model.tar.gz"
  }

  expect_failures = [aws_sagemaker_model.this]
}

run "rejects_instance_type_without_ml_prefix" {
  command = plan

  variables {
    instance_type = "g5.xlarge"
  }

  expect_failures = [var.instance_type]
}

run "rejects_bad_endpoint_name" {
  command = plan

  variables {
    name = "aiaas_gpu"
  }

  expect_failures = [var.name]
}

run "rejects_async_output_that_is_not_s3" {
  command = plan

  variables {
    async_inference = {
      s3_output_path = "https://example.com/results"
    }
  }

  expect_failures = [var.async_inference]
}

run "rejects_non_ecr_image_and_bad_retention" {
  command = plan

  variables {
    image_uri          = "nvcr.io/nvidia/tritonserver:24.08-py3"
    log_retention_days = 10
  }

  expect_failures = [var.image_uri, var.log_retention_days]
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
