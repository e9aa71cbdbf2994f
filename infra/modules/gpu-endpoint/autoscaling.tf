# Application Auto Scaling of the variant's instance count. Real-time endpoints track invocations per instance;
# asynchronous endpoints track the queue backlog per instance and may scale to zero instances when idle.

locals {
  scale_from_zero = var.autoscaling_enabled && local.async_enabled && var.autoscaling_min_capacity == 0
}

resource "aws_appautoscaling_target" "this" {
  count = var.autoscaling_enabled ? 1 : 0

  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.autoscaling_min_capacity
  max_capacity       = var.autoscaling_max_capacity

  lifecycle {
    precondition {
      condition     = var.autoscaling_min_capacity > 0 || local.async_enabled
      error_message = "autoscaling_min_capacity 0 (scale to zero) needs async_inference: a real-time endpoint keeps at least one instance."
    }
    precondition {
      condition     = var.autoscaling_max_capacity >= var.autoscaling_min_capacity
      error_message = "autoscaling_max_capacity must be >= autoscaling_min_capacity."
    }
  }
}

resource "aws_appautoscaling_policy" "target_tracking" {
  count = var.autoscaling_enabled ? 1 : 0

  name               = "${var.name}-target-tracking"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = local.async_enabled ? var.autoscaling_target_backlog_per_instance : var.autoscaling_target_invocations_per_instance
    scale_in_cooldown  = var.autoscaling_scale_in_cooldown
    scale_out_cooldown = var.autoscaling_scale_out_cooldown

    dynamic "predefined_metric_specification" {
      for_each = local.async_enabled ? [] : [1]

      content {
        predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
      }
    }

    dynamic "customized_metric_specification" {
      for_each = local.async_enabled ? [1] : []

      content {
        metric_name = "ApproximateBacklogSizePerInstance"
        namespace   = "AWS/SageMaker"
        statistic   = "Average"

        dimensions {
          name  = "EndpointName"
          value = aws_sagemaker_endpoint.this.name
        }
      }
    }
  }
}

# Target tracking cannot leave zero instances (there is no per-instance metric to track), so an async endpoint at
# zero is woken by a step policy on HasBacklogWithoutCapacity.
resource "aws_appautoscaling_policy" "scale_from_zero" {
  count = local.scale_from_zero ? 1 : 0

  name               = "${var.name}-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = var.autoscaling_scale_out_cooldown
    metric_aggregation_type = "Average"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "backlog_without_capacity" {
  count = local.scale_from_zero ? 1 : 0

  alarm_name          = "${var.name}-backlog-without-capacity"
  alarm_description   = "Requests are queued on ${var.name} while it has no instance: scale out from zero."
  namespace           = "AWS/SageMaker"
  metric_name         = "HasBacklogWithoutCapacity"
  statistic           = "Average"
  dimensions          = { EndpointName = aws_sagemaker_endpoint.this.name }
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [aws_appautoscaling_policy.scale_from_zero[0].arn]
  tags                = var.tags
}
