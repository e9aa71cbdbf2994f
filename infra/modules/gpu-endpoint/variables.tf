variable "name" {
  description = "Name of the SageMaker endpoint; also prefixes the model, endpoint configuration, role and log group."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](-*[A-Za-z0-9]){0,39}$", var.name))
    error_message = "name must be 1-40 letters, digits and hyphens, starting and ending with a letter or digit (40 leaves room for the hash suffixes)."
  }
}

variable "image_uri" {
  description = "ECR URI of the serving image (REGISTRY/REPO:TAG or @sha256:DIGEST); it answers GET /ping and POST /invocations on port 8080."
  type        = string

  validation {
    condition     = can(regex("^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an Amazon ECR image URI with a tag or digest: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG."
  }
}

variable "ecr_repository_arns" {
  description = "ARNs of the ECR repositories the role may pull from (the repository of image_uri when it is in this account). Empty for images SageMaker pulls by itself, such as AWS Deep Learning Containers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:\\d{12}:repository/.+$", a))])
    error_message = "ecr_repository_arns must be ECR repository ARNs (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)."
  }
}

variable "model_data_url" {
  description = "S3 URI of a model.tar.gz that SageMaker unpacks into /opt/ml/model before the container starts. null when the container loads MODEL_URI itself."
  type        = string
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+", var.model_data_url))
    error_message = "model_data_url must be an S3 URI such as s3://BUCKET/models/NAME/model.tar.gz."
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
  description = "Key prefix the role may read (s3:GetObject on BUCKET/PREFIX*). Must end with '/'."
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
  description = "Value of the MODEL_URI environment variable of the container: s3://BUCKET/PREFIX[...], below model_prefix."
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
  description = "Extra environment variables of the container. MODEL_URI is set from model_uri and wins over a key of the same name."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", k))])
    error_message = "environment keys must be letters, digits and '_', not starting with a digit."
  }
}

variable "instance_type" {
  description = "SageMaker instance type of the variant; a GPU type (ml.g5.*, ml.g6.*, ml.g4dn.*, ml.p*) for the GPU path."
  type        = string
  default     = "ml.g5.xlarge"

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be a SageMaker instance type such as ml.g5.xlarge (it starts with 'ml.')."
  }
}

variable "initial_instance_count" {
  description = "Instances the variant starts with; autoscaling adjusts it afterwards."
  type        = number
  default     = 1

  validation {
    condition     = var.initial_instance_count >= 1 && floor(var.initial_instance_count) == var.initial_instance_count
    error_message = "initial_instance_count must be a whole number >= 1."
  }
}

variable "container_startup_health_check_timeout" {
  description = "Seconds SageMaker waits for the container's /ping to pass after start (60-3600); large models load slowly."
  type        = number
  default     = 600

  validation {
    condition     = var.container_startup_health_check_timeout >= 60 && var.container_startup_health_check_timeout <= 3600
    error_message = "container_startup_health_check_timeout must be between 60 and 3600 seconds."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the ML storage volume. Leave null for instance types with local NVMe storage (g4dn, g5, g6, p4d): SageMaker rejects a volume key there and encrypts the instance store itself."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "async_inference" {
  description = "Asynchronous inference settings. null (default) makes a real-time endpoint. With it, requests are queued, results land in s3_output_path, and autoscaling may scale to zero."
  type = object({
    s3_output_path                          = string
    s3_failure_path                         = optional(string)
    kms_key_arn                             = optional(string)
    success_topic_arn                       = optional(string)
    error_topic_arn                         = optional(string)
    max_concurrent_invocations_per_instance = optional(number)
  })
  default = null

  validation {
    # Conditionals, not ||: Terraform evaluates both sides of || and would compare null.
    condition = var.async_inference == null ? true : (
      can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.async_inference.s3_output_path)) &&
      (var.async_inference.s3_failure_path == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.async_inference.s3_failure_path))) &&
      (var.async_inference.max_concurrent_invocations_per_instance == null ? true : (var.async_inference.max_concurrent_invocations_per_instance >= 1 && var.async_inference.max_concurrent_invocations_per_instance <= 1000))
    )
    error_message = "async_inference.s3_output_path and s3_failure_path must be S3 URIs (s3://BUCKET/PREFIX) and max_concurrent_invocations_per_instance 1-1000."
  }
}

variable "autoscaling_enabled" {
  description = "Register the variant with Application Auto Scaling and attach a target-tracking policy."
  type        = bool
  default     = true
}

variable "autoscaling_min_capacity" {
  description = "Fewest instances autoscaling keeps. 0 (scale to zero) is allowed only with async_inference."
  type        = number
  default     = 1

  validation {
    condition     = var.autoscaling_min_capacity >= 0 && floor(var.autoscaling_min_capacity) == var.autoscaling_min_capacity
    error_message = "autoscaling_min_capacity must be a whole number >= 0."
  }
}

variable "autoscaling_max_capacity" {
  description = "Most instances autoscaling may run."
  type        = number
  default     = 2

  validation {
    condition     = var.autoscaling_max_capacity >= 1 && floor(var.autoscaling_max_capacity) == var.autoscaling_max_capacity
    error_message = "autoscaling_max_capacity must be a whole number >= 1."
  }
}

variable "autoscaling_target_invocations_per_instance" {
  description = "Real-time endpoints: target of SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."
  type        = number
  default     = 100

  validation {
    condition     = var.autoscaling_target_invocations_per_instance > 0
    error_message = "autoscaling_target_invocations_per_instance must be > 0."
  }
}

variable "autoscaling_target_backlog_per_instance" {
  description = "Asynchronous endpoints: target of ApproximateBacklogSizePerInstance (queued requests per instance)."
  type        = number
  default     = 5

  validation {
    condition     = var.autoscaling_target_backlog_per_instance > 0
    error_message = "autoscaling_target_backlog_per_instance must be > 0."
  }
}

variable "autoscaling_scale_in_cooldown" {
  description = "Seconds after a scale-in before another scale-in may start."
  type        = number
  default     = 300

  validation {
    condition     = var.autoscaling_scale_in_cooldown >= 0
    error_message = "autoscaling_scale_in_cooldown must be >= 0."
  }
}

variable "autoscaling_scale_out_cooldown" {
  description = "Seconds after a scale-out before another scale-out may start."
  type        = number
  default     = 60

  validation {
    condition     = var.autoscaling_scale_out_cooldown >= 0
    error_message = "autoscaling_scale_out_cooldown must be >= 0."
  }
}

variable "log_retention_days" {
  description = "Days to keep the endpoint's container logs; one of the values CloudWatch Logs allows (0 = never expire)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the endpoint's log group; its key policy must allow the CloudWatch Logs service. null uses CloudWatch's own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "role_name" {
  description = "Name of the execution role. null uses NAME-sagemaker."
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

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
