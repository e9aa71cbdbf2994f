output "endpoint_name" {
  description = "Name of the SageMaker endpoint (what InvokeEndpoint and InvokeEndpointAsync take)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint; grant sagemaker:InvokeEndpoint (or InvokeEndpointAsync) on it."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_configuration_name" {
  description = "Name of the endpoint configuration in service (it changes whenever the configuration does)."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Name of the SageMaker model in service (it changes whenever the image, model data or environment do)."
  value       = aws_sagemaker_model.this.name
}

output "variant_name" {
  description = "Name of the production variant."
  value       = local.variant_name
}

output "instance_type" {
  description = "Instance type of the variant."
  value       = var.instance_type
}

output "async_enabled" {
  description = "Whether the endpoint is asynchronous (invoke with InvokeEndpointAsync, results in S3)."
  value       = local.async_enabled
}

output "async_output_path" {
  description = "S3 URI where asynchronous results land, or null for a real-time endpoint."
  value       = local.async_enabled ? var.async_inference.s3_output_path : null
}

output "role_arn" {
  description = "ARN of the endpoint's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the endpoint's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "autoscaling_resource_id" {
  description = "Application Auto Scaling resource ID of the variant, or null when autoscaling is off."
  value       = var.autoscaling_enabled ? aws_appautoscaling_target.this[0].resource_id : null
}
