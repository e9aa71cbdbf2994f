variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\\d$", var.region))
    error_message = "region must be an AWS region code such as us-east-1."
  }
}

variable "name" {
  description = "Name prefix of every resource in this environment."
  type        = string
  default     = "aiaas-dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,24}[a-z0-9]$", var.name))
    error_message = "name must be 3-26 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Value of the Environment tag."
  type        = string
  default     = "dev"
}

variable "tags" {
  description = "Extra tags applied to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "model_bucket_name" {
  description = "Name of the model store bucket. null uses NAME-models-ACCOUNT_ID."
  type        = string
  default     = null
}

variable "model_prefix" {
  description = "Key prefix of the models in the bucket; the function and the endpoint may read only below it."
  type        = string
  default     = "models/"
}

variable "kms_key_arn" {
  description = "KMS key for the model store (SSE-KMS) and async results; the roles get kms:Decrypt on it. null uses SSE-S3."
  type        = string
  default     = null
}

variable "model_store_enforce_tls" {
  description = "Deny non-TLS requests to the model store. Keep true; the offline demo's moto server speaks plain HTTP and sets it false."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket and ECR repository while they still hold objects and images. For throwaway environments and tests."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the inference function image in the ECR repository this environment creates (push it before the first full apply)."
  type        = string
}

variable "gpu_image_tag" {
  description = "Tag of the GPU serving image in the same ECR repository. null uses IMAGE_TAG-gpu."
  type        = string
  default     = null
}

variable "function_architecture" {
  description = "Instruction set of the function image: x86_64 or arm64."
  type        = string
  default     = "x86_64"
}

variable "function_memory_size" {
  description = "Memory of the inference function in MB (128-10240)."
  type        = number
  default     = 2048
}

variable "function_timeout" {
  description = "Timeout of the inference function in seconds (1-900)."
  type        = number
  default     = 30
}

variable "function_environment" {
  description = "Extra environment variables of the inference function (MODEL_URI is always set to the model store URI)."
  type        = map(string)
  default     = {}
}

variable "function_alias" {
  description = "Alias that serves traffic; the function URL points to it."
  type        = string
  default     = "live"
}

variable "function_cors" {
  description = "CORS settings of the function URL (see the inference-function module). null sends no CORS headers."
  type = object({
    allow_origins     = list(string)
    allow_methods     = optional(list(string), ["POST"])
    allow_headers     = optional(list(string), ["content-type", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"])
    expose_headers    = optional(list(string), [])
    allow_credentials = optional(bool, false)
    max_age           = optional(number, 0)
  })
  default = null
}

variable "provisioned_concurrency" {
  description = "Provisioned concurrency on the alias; 0 turns it off (no idle cost in dev)."
  type        = number
  default     = 0
}

variable "log_retention_days" {
  description = "Days to keep function and endpoint logs (a value CloudWatch Logs allows)."
  type        = number
  default     = 365
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when an alarm fires or clears."
  type        = list(string)
  default     = []
}

variable "create_gpu_endpoint" {
  description = "Create the SageMaker GPU endpoint (billed per instance-hour while it runs)."
  type        = bool
  default     = true
}

variable "gpu_instance_type" {
  description = "SageMaker GPU instance type of the endpoint."
  type        = string
  default     = "ml.g5.xlarge"
}

variable "gpu_async" {
  description = "Make the GPU endpoint asynchronous (results in s3://BUCKET/async/) so autoscaling can scale it to zero."
  type        = bool
  default     = false
}

variable "gpu_autoscaling_enabled" {
  description = "Attach Application Auto Scaling to the GPU endpoint."
  type        = bool
  default     = true
}

variable "gpu_max_instances" {
  description = "Most instances autoscaling may run behind the GPU endpoint."
  type        = number
  default     = 2
}

# Provider settings. The defaults are production's; tests against a local AWS stand-in override them.

variable "skip_credentials_validation" {
  description = "Skip the provider's STS credential check (for AWS stand-ins)."
  type        = bool
  default     = false
}

variable "skip_requesting_account_id" {
  description = "Skip the provider's account ID lookup (for AWS stand-ins)."
  type        = bool
  default     = false
}

variable "skip_metadata_api_check" {
  description = "Skip the EC2 instance metadata lookup for credentials (for AWS stand-ins and machines outside EC2)."
  type        = bool
  default     = false
}

variable "s3_use_path_style" {
  description = "Address S3 as ENDPOINT/BUCKET rather than BUCKET.ENDPOINT (needed for stand-ins on localhost)."
  type        = bool
  default     = false
}

variable "max_retries" {
  description = "Retries of a failing AWS API call before the provider gives up. Small against stand-ins, so a missing API fails fast."
  type        = number
  default     = 25

  validation {
    condition     = var.max_retries >= 0 && floor(var.max_retries) == var.max_retries
    error_message = "max_retries must be a whole number >= 0."
  }
}
