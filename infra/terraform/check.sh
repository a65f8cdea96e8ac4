#!/usr/bin/env bash
# Offline CI check of infra/terraform: formatting, then `terraform init` + `terraform validate`
# for every module and every environment, against a local provider mirror (no network).
#
# Usage: infra/terraform/check.sh [DIR]   (DIR: the folder holding modules/ and environments/;
#                                        default: the folder of this script)
#   TERRAFORM=/path/to/terraform   (default: /usr/local/bin/terraform, else terraform on PATH)
#   TF_PLUGIN_DIR=/path/to/mirror  (default: /opt/tf-plugins; must hold hashicorp/aws)
#
# Validation runs in a scratch copy of this folder, so no .terraform/ directory or lock file
# is ever written into the working tree. A missing terraform binary or provider mirror is an
# error (exit 2), never a silent pass.
set -euo pipefail

here="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")}" && pwd)"
plugin_dir="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
aws_mirror="${plugin_dir}/registry.terraform.io/hashicorp/aws"

die() {
  echo "ERROR: $*" >&2
  echo "ERROR: terraform checks did NOT run; this is a failure, not a skip." >&2
  exit 2
}

if [[ -n "${TERRAFORM:-}" ]]; then
  tf="${TERRAFORM}"
elif [[ -x /usr/local/bin/terraform ]]; then
  tf=/usr/local/bin/terraform
else
  tf="$(command -v terraform || true)"
fi
[[ -n "${tf}" && -x "${tf}" ]] ||
  die "terraform not found (looked at \$TERRAFORM='${TERRAFORM:-}', /usr/local/bin/terraform and PATH); install Terraform >= 1.11"

[[ -d "${aws_mirror}" ]] && compgen -G "${aws_mirror}/*/*/terraform-provider-aws_*" >/dev/null ||
  die "provider mirror not found: no hashicorp/aws provider under ${aws_mirror}; install the mirror (terraform providers mirror) or point TF_PLUGIN_DIR at one"

# Hermetic: ignore any user CLI configuration (network mirrors, credentials), no update checks.
export TF_CLI_CONFIG_FILE=/dev/null
export CHECKPOINT_DISABLE=1
export TF_IN_AUTOMATION=1
export TF_INPUT=0

echo "== $("${tf}" version | head -n 1), provider mirror ${plugin_dir}"

echo "== terraform fmt -check -recursive"
if ! "${tf}" -chdir="${here}" fmt -check -recursive -diff; then
  echo "FAIL: files above are not formatted; run: terraform -chdir=infra/terraform fmt -recursive" >&2
  exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
# Copy the sources only (no stale .terraform state from someone's local experiments).
(cd "${here}" && find . -type d -name .terraform -prune -o -type f \( -name '*.tf' -o -name '*.tftpl' \) -print |
  while read -r f; do
    mkdir -p "${scratch}/$(dirname "${f}")"
    cp "${f}" "${scratch}/${f}"
  done)

roots=()
for d in "${here}"/modules/*/ "${here}"/environments/*/; do
  [[ -d "${d}" ]] && roots+=("${d#"${here}"/}")
done
[[ ${#roots[@]} -gt 0 ]] || die "no modules or environments found under ${here}"

# One configuration: init against the mirror, then validate. Output goes to a log per root.
check_root() {
  local rel="$1" dir="${scratch}/$1"
  if ! "${tf}" -chdir="${dir}" init -backend=false -input=false -no-color -plugin-dir="${plugin_dir}"; then
    echo "FAIL: ${rel}: terraform init failed"
    return 1
  fi
  if ! "${tf}" -chdir="${dir}" validate -no-color; then
    echo "FAIL: ${rel}: terraform validate failed"
    return 1
  fi
}

# Each validate loads the (large) provider binary: run the roots in parallel.
pids=()
for i in "${!roots[@]}"; do
  rel="${roots[$i]%/}"
  roots[$i]="${rel}"
  check_root "${rel}" >"${scratch}/check.${i}.log" 2>&1 &
  pids+=("$!")
done

failed=0
for i in "${!roots[@]}"; do
  if wait "${pids[$i]}"; then
    echo "== ${roots[$i]}: ok"
  else
    echo "== ${roots[$i]}: FAILED" >&2
    cat "${scratch}/check.${i}.log" >&2
    failed=1
  fi
done

if [[ ${failed} -ne 0 ]]; then
  echo "FAIL: terraform checks failed" >&2
  exit 1
fi
echo "OK: fmt and validate passed for ${#roots[@]} configurations"
