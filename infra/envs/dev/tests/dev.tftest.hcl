# Unit tests of the composition: no AWS calls. Run with `terraform init && terraform test` in envs/dev.

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

  mock_resource "aws_s3_bucket" {
    defaults = {
      id  = "aiaas-dev-models-123456789012"
      arn = "arn:aws:s3:::aiaas-dev-models-123456789012"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/aiaas-dev-mock"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/aiaas-dev-inference"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-dev-inference"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/mock"
    }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn     = "arn:aws:lambda:us-east-1:123456789012:function:aiaas-dev-inference"
      version = "1"
    }
  }

  mock_resource "aws_lambda_alias" {
    defaults = {
      arn = "arn:aws:lambda:us-east-1:123456789012:function:aiaas-dev-inference:live"
    }
  }

  mock_resource "aws_lambda_function_url" {
    defaults = {
      function_url = "https://abc123.lambda-url.us-east-1.on.aws/"
    }
  }

  mock_resource "aws_sagemaker_model" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:model/aiaas-dev-gpu"
    }
  }

  mock_resource "aws_sagemaker_endpoint_configuration" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/aiaas-dev-gpu"
    }
  }

  mock_resource "aws_sagemaker_endpoint" {
    defaults = {
      arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/aiaas-dev-gpu"
    }
  }

  mock_resource "aws_appautoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:resource/sagemaker/endpoint/aiaas-dev-gpu/variant/primary:policyName/mock"
    }
  }

  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = {
      arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mock"
    }
  }
}

variables {
  image_tag = "0.1.0"
}

run "sdk_config_describes_the_whole_environment" {
  command = apply

  assert {
    condition = output.sdk_config == {
      region             = "us-east-1"
      model_store_uri    = "s3://aiaas-dev-models-123456789012/models/"
      function_url       = "https://abc123.lambda-url.us-east-1.on.aws/"
      function_name      = "aiaas-dev-inference"
      function_alias     = "live"
      sagemaker_endpoint = "aiaas-dev-gpu"
    }
    error_message = "sdk_config must hold region, model_store_uri, function_url, function_name, function_alias and sagemaker_endpoint."
  }

  assert {
    condition     = module.gpu_endpoint[0].instance_type == "ml.g5.xlarge" && module.gpu_endpoint[0].autoscaling_resource_id == "endpoint/aiaas-dev-gpu/variant/primary"
    error_message = "By default the GPU endpoint runs on ml.g5.xlarge with autoscaling."
  }

  assert {
    condition     = module.inference_function.provisioned_concurrency == 0
    error_message = "Provisioned concurrency must be off in dev unless asked for."
  }
}

run "gpu_endpoint_can_be_left_out" {
  command = apply

  variables {
    create_gpu_endpoint = false
  }

  assert {
    condition     = output.sdk_config.sagemaker_endpoint == null && output.sagemaker_endpoint == null
    error_message = "Without the GPU endpoint, sagemaker_endpoint must be null."
  }
}

run "async_gpu_endpoint_scales_to_zero" {
  command = apply

  variables {
    gpu_async = true
  }

  assert {
    condition     = module.gpu_endpoint[0].async_enabled && module.gpu_endpoint[0].async_output_path == "s3://aiaas-dev-models-123456789012/async/results/"
    error_message = "gpu_async must make the endpoint asynchronous, writing below async/ in the model store."
  }
}

run "rejects_bad_region_and_name" {
  command = plan

  variables {
    region = "useast1"
    name   = "AIaaS"
  }

  expect_failures = [var.region, var.name]
}
