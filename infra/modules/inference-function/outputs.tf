output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Unqualified ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "function_version" {
  description = "Version published by the last apply; the alias points to it."
  value       = aws_lambda_function.this.version
}

output "alias_name" {
  description = "Name of the alias that serves traffic."
  value       = aws_lambda_alias.this.name
}

output "alias_arn" {
  description = "ARN of the alias (the function ARN qualified by the alias); grant lambda:InvokeFunctionUrl on it."
  value       = aws_lambda_alias.this.arn
}

output "function_url" {
  description = "HTTPS URL of the alias; requests must be SigV4-signed (authorization type AWS_IAM)."
  value       = aws_lambda_function_url.this.function_url
}

output "ecr_repository_url" {
  description = "URL of the ECR repository to push the function image to."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the ECR repository."
  value       = aws_ecr_repository.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms, keyed errors, throttles and p99-duration (empty when create_alarms is false)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }
}

output "provisioned_concurrency" {
  description = "Provisioned concurrency configured on the alias (0 when off)."
  value       = var.provisioned_concurrency
}
