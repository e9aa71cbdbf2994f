output "region" {
  description = "AWS region of this environment."
  value       = var.region
}

output "model_store_bucket" {
  description = "Name of the model store bucket."
  value       = module.model_store.bucket_name
}

output "model_prefix" {
  description = "Key prefix of the models in the bucket."
  value       = module.model_store.model_prefix
}

output "model_store_uri" {
  description = "s3://BUCKET/PREFIX where compiled models are uploaded."
  value       = module.model_store.model_store_uri
}

output "ecr_repository_url" {
  description = "ECR repository to push the function image (and the GPU image) to."
  value       = module.inference_function.ecr_repository_url
}

output "function_name" {
  description = "Name of the inference function."
  value       = module.inference_function.function_name
}

output "function_alias" {
  description = "Alias of the inference function that serves traffic."
  value       = module.inference_function.alias_name
}

output "function_url" {
  description = "IAM-authenticated HTTPS URL of the function alias (SigV4-sign requests for service 'lambda')."
  value       = module.inference_function.function_url
}

output "sagemaker_endpoint" {
  description = "Name of the SageMaker GPU endpoint, or null when create_gpu_endpoint is false."
  value       = one(module.gpu_endpoint[*].endpoint_name)
}

output "sdk_config" {
  description = "Everything the SDK needs to call this environment; read with `terraform output -json sdk_config` (sdk configure --from-terraform)."
  value = {
    region             = var.region
    model_store_uri    = module.model_store.model_store_uri
    function_url       = module.inference_function.function_url
    function_name      = module.inference_function.function_name
    function_alias     = module.inference_function.alias_name
    sagemaker_endpoint = one(module.gpu_endpoint[*].endpoint_name)
  }
}
