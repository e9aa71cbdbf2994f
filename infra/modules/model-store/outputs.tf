output "bucket_name" {
  description = "Name of the model store bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the model store bucket."
  value       = aws_s3_bucket.this.arn
}

output "model_prefix" {
  description = "Key prefix under which models are stored (ends with '/')."
  value       = var.model_prefix
}

output "model_prefix_arn" {
  description = "ARN pattern of the objects below the model prefix, for IAM policies (arn:...:s3:::BUCKET/PREFIX*)."
  value       = "${aws_s3_bucket.this.arn}/${var.model_prefix}*"
}

output "model_store_uri" {
  description = "URI of the model store, s3://BUCKET/PREFIX; the SDK and the functions read MODEL_URI from it."
  value       = "s3://${aws_s3_bucket.this.id}/${var.model_prefix}"
}

output "kms_key_arn" {
  description = "KMS key that encrypts the bucket, or null when SSE-S3 is used."
  value       = var.kms_key_arn
}
