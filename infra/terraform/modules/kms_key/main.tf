# One customer managed key for the deployment: S3 default encryption, Secrets Manager secrets,
# ElastiCache at rest, RDS storage and Performance Insights. Access to it is granted by IAM
# policies (the key policy delegates to the account), so each role names this key explicitly.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "key" {
  # The standard default key policy: lets IAM policies in this account grant use of the key.
  # Without it only the key policy itself could grant access, and a mistake would lock the key
  # out for good. Documented exception in tests/infra/terraform_policies.py: "kms:*" and
  # Resource "*" (in a key policy, "*" means this key).
  statement {
    sid       = "EnableIAMPolicies"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
