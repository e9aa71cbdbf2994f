variable "function_name" {
  description = "Name of the Lambda function. It also names the log group, the role (NAME-exec) and, lowercased, the ECR repository, unless those are given."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name must be 1-56 letters, digits, hyphens or underscores (56 leaves room for the role's '-exec' suffix)."
  }
}

variable "description" {
  description = "Description of the Lambda function."
  type        = string
  default     = "aiaas inference function (CPU, container image)"

  validation {
    condition     = length(var.description) <= 256
    error_message = "description must be at most 256 characters."
  }
}

variable "image_uri" {
  description = "Full ECR image URI (REGISTRY/REPO:TAG or @sha256:DIGEST) to run. null uses this module's repository with image_tag."
  type        = string
  default     = null

  validation {
    condition     = var.image_uri == null || can(regex("^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an Amazon ECR image URI with a tag or digest: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG. Lambda runs images from ECR only."
  }
}

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository, used when image_uri is null. Tags are immutable: push a new tag per release."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag (up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-')."
  }
}

variable "architecture" {
  description = "Instruction set of the image: x86_64 or arm64 (Graviton, cheaper per GB-second)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB, 128-10240. CPU scales with memory (one vCPU per 1769 MB)."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout of one invocation in seconds, 1-900."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "ephemeral_storage_size" {
  description = "Size of /tmp in MB, 512-10240; models larger than the image are cached here."
  type        = number
  default     = 512

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240 && floor(var.ephemeral_storage_size) == var.ephemeral_storage_size
    error_message = "ephemeral_storage_size must be a whole number of MB between 512 and 10240."
  }
}

variable "model_bucket_arn" {
  description = "ARN of the model store bucket (arn:aws:s3:::NAME)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.model_bucket_arn))
    error_message = "model_bucket_arn must be an S3 bucket ARN: arn:aws:s3:::BUCKET (no key)."
  }
}

variable "model_prefix" {
  description = "Key prefix the function may read (s3:GetObject on BUCKET/PREFIX*). Must end with '/'."
  type        = string
  default     = "models/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", var.model_prefix))
    error_message = "model_prefix must be a relative key prefix such as 'models/': no leading '/', no empty segments, ending with '/'."
  }
}

variable "chunk_prefix" {
  description = "The model store's chunk folder (STORE_ROOT.chunks/, e.g. 'models/.chunks/'), which chunked model versions are assembled from, when it lies outside model_prefix: set it when model_prefix is narrowed to one model's folder. Chunk keys are content hashes and the role cannot list them, so it reads only chunks named by a manifest it may read. null: nothing beyond model_prefix."
  type        = string
  default     = null

  validation {
    condition     = var.chunk_prefix == null || can(regex("^([A-Za-z0-9!_.*'()-]+/)*\\.chunks/$", coalesce(var.chunk_prefix, "-")))
    error_message = "chunk_prefix must be a store root's chunk folder such as 'models/.chunks/': no leading '/', ending with '.chunks/'."
  }
}

variable "model_uri" {
  description = "Value of the MODEL_URI environment variable: s3://BUCKET/PREFIX[...], below model_prefix."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/", var.model_uri))
    error_message = "model_uri must be an S3 URI such as s3://BUCKET/models/."
  }
}

variable "model_kms_key_arn" {
  description = "KMS key that encrypts the model store, if SSE-KMS; the role gets kms:Decrypt on it. null for SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.model_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.model_kms_key_arn))
    error_message = "model_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "environment" {
  description = "Extra environment variables. MODEL_URI is set from model_uri and wins over a key of the same name."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && !startswith(k, "AWS_")])
    error_message = "environment keys must be letters, digits and '_', start with a letter, and not start with AWS_ (reserved by Lambda)."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capped at) this function. -1 (default) leaves it unreserved; 0 stops all invocations."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a whole number >= 0."
  }
}

variable "provisioned_concurrency" {
  description = "Pre-initialised execution environments on the alias (no cold starts, billed while idle). 0 (default) turns it off."
  type        = number
  default     = 0

  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number >= 0."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: Active (sample and record) or PassThrough (only when the caller traces)."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "alias_name" {
  description = "Name of the alias that serves traffic; the function URL points to it."
  type        = string
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.alias_name)) && !can(regex("^[0-9]+$", var.alias_name))
    error_message = "alias_name must be 1-128 letters, digits, '-' or '_', and not all digits (that would be a version)."
  }
}

variable "cors" {
  description = "CORS settings of the function URL, for browser callers. null (default) sends no CORS headers."
  type = object({
    allow_origins     = list(string)
    allow_methods     = optional(list(string), ["POST"])
    allow_headers     = optional(list(string), ["content-type", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"])
    expose_headers    = optional(list(string), [])
    allow_credentials = optional(bool, false)
    max_age           = optional(number, 0)
  })
  default = null

  validation {
    condition     = var.cors == null || try(length(var.cors.allow_origins) > 0 && var.cors.max_age >= 0 && var.cors.max_age <= 86400, false)
    error_message = "cors.allow_origins must not be empty and cors.max_age must be 0-86400 seconds."
  }
}

variable "log_retention_days" {
  description = "Days to keep the function's logs; one of the values CloudWatch Logs allows (0 = never expire)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the log group, the environment variables and the ECR repository. null uses AWS-owned keys. Its key policy must allow the CloudWatch Logs service."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "ecr_repository_name" {
  description = "Name of the ECR repository. null uses the lowercased function name."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_name == null || can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.ecr_repository_name))
    error_message = "ecr_repository_name must be lowercase letters and digits separated by '.', '_', '-' or '/'."
  }
}

variable "ecr_keep_images" {
  description = "Number of most recent images the ECR lifecycle policy keeps; older ones expire."
  type        = number
  default     = 10

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number between 1 and 1000."
  }
}

variable "ecr_force_delete" {
  description = "Allow `terraform destroy` to delete the ECR repository while it still holds images. Keep false outside tests."
  type        = bool
  default     = false
}

variable "role_name" {
  description = "Name of the execution role. null uses FUNCTION_NAME-exec."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "role_name must be 1-64 characters of letters, digits and +=,.@_-."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a managed policy set as the execution role's permissions boundary, if the account requires one."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::(\\d{12}|aws):policy/.+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be an IAM policy ARN."
  }
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on Errors, Throttles and p99 Duration of the alias."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs (typically SNS topics) notified when an alarm fires."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : startswith(a, "arn:")])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "ok_actions" {
  description = "ARNs (typically SNS topics) notified when an alarm returns to OK."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ok_actions : startswith(a, "arn:")])
    error_message = "ok_actions must be ARNs."
  }
}

variable "alarm_period_seconds" {
  description = "Period over which each alarm's statistic is computed: 10, 30 or a multiple of 60 seconds."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 30 or a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  description = "Number of consecutive periods that must breach before an alarm fires."
  type        = number
  default     = 3

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number >= 1."
  }
}

variable "errors_threshold" {
  description = "Errors per period at or above which the errors alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.errors_threshold >= 1
    error_message = "errors_threshold must be >= 1."
  }
}

variable "throttles_threshold" {
  description = "Throttles per period at or above which the throttles alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.throttles_threshold >= 1
    error_message = "throttles_threshold must be >= 1."
  }
}

variable "p99_duration_threshold_ms" {
  description = "p99 duration in ms above which the latency alarm fires. null uses 80% of the timeout."
  type        = number
  default     = null

  validation {
    condition     = var.p99_duration_threshold_ms == null || try(var.p99_duration_threshold_ms > 0, false)
    error_message = "p99_duration_threshold_ms must be > 0."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
