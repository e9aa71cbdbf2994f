# Alarms on the alias: errors, throttles and p99 latency. Actions go to the given SNS topic ARNs.

locals {
  alarm_dimensions = {
    FunctionName = aws_lambda_function.this.function_name
    Resource     = "${aws_lambda_function.this.function_name}:${aws_lambda_alias.this.name}"
  }
  p99_duration_threshold_ms = coalesce(var.p99_duration_threshold_ms, var.timeout * 1000 * 0.8)

  alarms = var.create_alarms ? {
    errors = {
      metric_name         = "Errors"
      statistic           = "Sum"
      extended_statistic  = null
      threshold           = var.errors_threshold
      comparison_operator = "GreaterThanOrEqualToThreshold"
      description         = "${var.function_name}:${var.alias_name} returned errors."
    }
    throttles = {
      metric_name         = "Throttles"
      statistic           = "Sum"
      extended_statistic  = null
      threshold           = var.throttles_threshold
      comparison_operator = "GreaterThanOrEqualToThreshold"
      description         = "${var.function_name}:${var.alias_name} was throttled."
    }
    p99-duration = {
      metric_name         = "Duration"
      statistic           = null
      extended_statistic  = "p99"
      threshold           = local.p99_duration_threshold_ms
      comparison_operator = "GreaterThanThreshold"
      description         = "p99 duration of ${var.function_name}:${var.alias_name} is above ${local.p99_duration_threshold_ms} ms."
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.function_name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric_name
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  dimensions          = local.alarm_dimensions
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison_operator
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions
  tags                = var.tags
}
