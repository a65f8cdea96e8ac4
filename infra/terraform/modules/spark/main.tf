# Spark on EMR Serverless: an application (a capacity envelope, billed only while jobs run),
# the job execution role (exactly the deployment's bucket prefix, the KMS key through S3 and
# Secrets Manager, and the named secrets), and ready-to-submit StartJobRun requests.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  s3_base       = "s3://${var.bucket_name}/${var.prefix}"
  lake_uri      = "${local.s3_base}/lake"
  artifacts_uri = "${local.s3_base}/artifacts"
  logs_uri      = "${local.s3_base}/logs"

  # Every spark conf the jobs need, as the spark-defaults classification of a job run.
  spark_defaults = merge(
    {
      # The Python environment (featurelake wheel + dependencies, packed with venv-pack) and
      # the settings file, both unpacked into the working directory of driver and executors.
      "spark.archives"                                       = "${local.artifacts_uri}/featurelake-venv.tar.gz#environment,${local.artifacts_uri}/featurelake-conf.tar.gz#conf"
      "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON" = "./environment/bin/python"
      "spark.emr-serverless.driverEnv.PYSPARK_PYTHON"        = "./environment/bin/python"
      "spark.executorEnv.PYSPARK_PYTHON"                     = "./environment/bin/python"
      "spark.emr-serverless.driverEnv.FEATURELAKE_CONFIG"    = "./conf/featurelake.yaml"
      "spark.executorEnv.FEATURELAKE_CONFIG"                 = "./conf/featurelake.yaml"

      # featurelake's tested Delta path is delta-rs bridged into Spark (DESIGN.md decision 2):
      # Delta's Spark extension is deliberately NOT enabled, so every table has one writer
      # engine (decision 4). See docs/deploy.md before switching to the native path.
      "spark.sql.catalogImplementation" = "in-memory" # no Glue catalog: tables are paths
      "spark.sql.session.timeZone"      = "UTC"

      "spark.executor.cores"                 = tostring(var.executor_cores)
      "spark.executor.memory"                = "${var.executor_memory_gb}g"
      "spark.dynamicAllocation.enabled"      = "true"
      "spark.dynamicAllocation.maxExecutors" = tostring(var.max_executors_per_job)
    },
    # Secrets reach driver and executors as environment variables; EMR Serverless swaps each
    # EMR.secret@NAME for the secret's value when it starts the workers.
    { for env, s in var.secrets : "spark.emr-serverless.driverEnv.${env}" => "EMR.secret@${s.name}" },
    { for env, s in var.secrets : "spark.executorEnv.${env}" => "EMR.secret@${s.name}" },
  )

  # Entry points are uploaded next to the venv (docs/deploy.md). Arguments in {{...}} are
  # placeholders to fill in per run.
  jobs = {
    backfill = {
      entry_point = "${local.artifacts_uri}/jobs/backfill.py"
      arguments   = ["--view", "{{VIEW}}", "--start", "{{START_DATE}}", "--end", "{{END_DATE}}"]
    }
    materialize = {
      entry_point = "${local.artifacts_uri}/jobs/materialize.py"
      arguments   = ["--view", "{{VIEW}}", "--incremental"]
    }
    training_set = {
      entry_point = "${local.artifacts_uri}/jobs/training_set.py"
      arguments   = ["--service", "{{SERVICE}}:{{VERSION}}", "--entities", "{{ENTITIES_TABLE}}", "--name", "{{NAME}}"]
    }
  }

  # Request bodies for `aws emr-serverless start-job-run --cli-input-json`.
  job_run_requests = {
    for job, spec in local.jobs : job => {
      applicationId           = aws_emrserverless_application.this.id
      executionRoleArn        = aws_iam_role.job.arn
      name                    = "featurelake-${replace(job, "_", "-")}"
      executionTimeoutMinutes = var.job_timeout_minutes
      jobDriver = {
        sparkSubmit = {
          entryPoint          = spec.entry_point
          entryPointArguments = spec.arguments
        }
      }
      configurationOverrides = {
        applicationConfiguration = [
          { classification = "spark-defaults", properties = local.spark_defaults },
        ]
        # Logs land under the bucket's default SSE-KMS encryption (the deployment key).
        monitoringConfiguration = {
          s3MonitoringConfiguration = { logUri = "${local.logs_uri}/" }
        }
      }
      tags = { "featurelake:job" = job }
    }
  }
}

resource "aws_emrserverless_application" "this" {
  name          = var.name
  release_label = var.release_label
  type          = "spark"
  architecture  = var.architecture

  maximum_capacity {
    cpu    = var.max_cpu
    memory = var.max_memory
    disk   = var.max_disk
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  tags = var.tags
}

# --- Job execution role --------------------------------------------------------------------

data "aws_iam_policy_document" "job_trust" {
  statement {
    sid     = "EMRServerlessJobsOfThisApplication"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }

    # Confused-deputy guard: only jobs of this account's application may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_emrserverless_application.this.arn, "${aws_emrserverless_application.this.arn}/jobruns/*"]
    }
  }
}

resource "aws_iam_role" "job" {
  name_prefix          = "${var.name}-job-"
  description          = "featurelake Spark jobs on EMR Serverless application ${var.name}"
  assume_role_policy   = data.aws_iam_policy_document.job_trust.json
  max_session_duration = 43200
  tags                 = var.tags
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "ListDeploymentPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.prefix, "${var.prefix}/*"]
    }
  }

  statement {
    sid       = "LocateBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.bucket_arn]
  }

  statement {
    sid    = "ReadWriteDeltaTables"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.bucket_arn}/${var.prefix}/lake/*"]
  }

  statement {
    sid       = "ReadArtifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.prefix}/artifacts/*"]
  }

  statement {
    sid       = "WriteJobLogs"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.prefix}/logs/*"]
  }

  statement {
    sid       = "UseKeyThroughS3AndSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${data.aws_region.current.name}.amazonaws.com",
        "secretsmanager.${data.aws_region.current.name}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "ReadJobSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for s in values(var.secrets) : s.arn]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "featurelake-job"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}
