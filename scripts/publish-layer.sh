#!/usr/bin/env bash
# Publishes the release's layers with the AWS CLI: one layer version per zip in dist/release.json
# (written by `npm run release`), with its compatible runtimes and architectures, after checking
# every zip against dist/SHA256SUMS; optionally grants other accounts, an organisation, or everyone
# the right to use the new versions (lambda:GetLayerVersion). Prints each new version's ARN.
#
# usage: scripts/publish-layer.sh [options]
#   --region REGION         AWS region; repeatable, to publish in several (default: the CLI's own)
#   --profile PROFILE       AWS CLI profile
#   --dist DIR              where the zips, SHA256SUMS and release.json are (default: dist)
#   --only FLAVOR           slim | standalone | a zip file name; repeatable (default: every zip)
#   --name-prefix PREFIX    layer names start with PREFIX instead of vault-lambda-agent
#   --s3-bucket BUCKET      upload through S3 (needed for zips over 50 MB), key <prefix>/<version>/<zip>;
#                           "{region}" in the name is replaced (the bucket must be in the layer's region)
#   --grant-account ID      allow this account to use the versions; repeatable
#   --grant-org ORG_ID      allow every account of this AWS Organization (o-...)
#   --grant-public          allow every AWS account
#   --dry-run               check the checksums, print the aws commands, run none of them
set -euo pipefail

die() { echo "publish-layer: $*" >&2; exit 2; }

dist=dist profile= prefix= bucket= org= public=false dry=false
only=() accounts=() regions=()
while [ $# -gt 0 ]; do
  case "$1" in
    --region) regions+=("${2:?--region needs a value}"); shift 2 ;;
    --profile) profile=${2:?--profile needs a value}; shift 2 ;;
    --dist) dist=${2:?--dist needs a value}; shift 2 ;;
    --only) only+=("${2:?--only needs a value}"); shift 2 ;;
    --name-prefix) prefix=${2:?--name-prefix needs a value}; shift 2 ;;
    --s3-bucket) bucket=${2:?--s3-bucket needs a value}; shift 2 ;;
    --grant-account)
      [[ ${2:-} =~ ^[0-9]{12}$ ]] || die "--grant-account ${2:-}: an AWS account id is 12 digits"
      accounts+=("$2"); shift 2 ;;
    --grant-org)
      [[ ${2:-} =~ ^o-[a-z0-9]{10,32}$ ]] || die "--grant-org ${2:-}: an organization id looks like o-abc123defg"
      org=$2; shift 2 ;;
    --grant-public) public=true; shift ;;
    --dry-run) dry=true; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -f "$dist/release.json" ] && [ -f "$dist/SHA256SUMS" ] || die "$dist/release.json or $dist/SHA256SUMS is missing: run \`npm run release\` first"

# Nothing is published unless every zip is the one the checksums name.
if command -v sha256sum >/dev/null 2>&1; then check=(sha256sum --strict -c SHA256SUMS); else check=(shasum -a 256 -c SHA256SUMS); fi
if ! (cd "$dist" && "${check[@]}" >/dev/null); then
  echo "publish-layer: a zip in $dist does not match SHA256SUMS; nothing was published" >&2
  (cd "$dist" && "${check[@]}" >&2) || true
  exit 1
fi

# One line per artifact: file, layer name, version, flavor, runtimes, architectures (comma-separated).
# (A while-read loop, not mapfile, and guarded empty arrays: macOS still ships bash 3.2.)
rows=()
while IFS= read -r line; do rows+=("$line"); done < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const a of r.artifacts) console.log([a.file, a.layerName, r.version, a.flavor, a.runtimes.join(","), a.architectures.join(",")].join("\t"));
' "$dist/release.json")

# Dry run: each command on stderr, as the shell would run it, and nothing run.
run() {
  if $dry; then { printf '+'; printf ' %q' "${aws_cli[@]}" "$@"; echo; } >&2; else "${aws_cli[@]}" "$@"; fi
}

# publish <region or empty> <release.json row>: one layer version, then its grants.
publish() {
  local region=$1 file layer version flavor runtimes archs
  IFS=$'\t' read -r file layer version flavor runtimes archs <<<"$2"
  [ -n "$prefix" ] && layer=${layer/#vault-lambda-agent/$prefix}
  aws_cli=(aws)
  [ -n "$region" ] && aws_cli+=(--region "$region")
  [ -n "$profile" ] && aws_cli+=(--profile "$profile")
  IFS=, read -r -a runtime_list <<<"$runtimes"
  IFS=, read -r -a arch_list <<<"$archs"
  if [ -n "$bucket" ]; then
    local b=${bucket//\{region\}/$region} key="${prefix:-vault-lambda-agent}/$version/$file"
    run s3 cp "$dist/$file" "s3://$b/$key" --only-show-errors >&2
    content=(--content "S3Bucket=$b,S3Key=$key")
  else
    content=(--zip-file "fileb://$dist/$file")
  fi
  local answer arn number
  answer=$(run lambda publish-layer-version --layer-name "$layer" \
    --description "vault-lambda-agent $version ($flavor, ${archs//,/+})" --license-info MPL-2.0 \
    "${content[@]}" --compatible-runtimes "${runtime_list[@]}" --compatible-architectures "${arch_list[@]}" \
    --query '[LayerVersionArn,Version]' --output text)
  if $dry; then
    arn="arn:aws:lambda:${region:-<region>}:<account>:layer:$layer:<new>" number='<new>'
  else
    read -r arn number <<<"$answer"
    [[ $number =~ ^[0-9]+$ ]] || { echo "publish-layer: unexpected answer from aws for $file: $answer" >&2; exit 1; }
  fi
  for account in ${accounts[@]+"${accounts[@]}"}; do
    run lambda add-layer-version-permission --layer-name "$layer" --version-number "$number" \
      --statement-id "account-$account" --action lambda:GetLayerVersion --principal "$account" --output text >/dev/null
  done
  if [ -n "$org" ]; then
    run lambda add-layer-version-permission --layer-name "$layer" --version-number "$number" \
      --statement-id "org-$org" --action lambda:GetLayerVersion --principal '*' --organization-id "$org" --output text >/dev/null
  fi
  if $public; then
    run lambda add-layer-version-permission --layer-name "$layer" --version-number "$number" \
      --statement-id public --action lambda:GetLayerVersion --principal '*' --output text >/dev/null
  fi
  echo "published $file as $arn"
}

# The rows --only keeps.
selected=()
for row in ${rows[@]+"${rows[@]}"}; do
  IFS=$'\t' read -r file _ _ flavor _ <<<"$row"
  if [ ${#only[@]} -gt 0 ]; then
    wanted=false
    for o in ${only[@]+"${only[@]}"}; do [ "$o" = "$flavor" ] || [ "$o" = "$file" ] && wanted=true; done
    $wanted || continue
  fi
  selected+=("$row")
done
[ ${#selected[@]} -gt 0 ] || die "no zip matched --only ${only[*]+${only[*]}}"
[ ${#regions[@]} -gt 0 ] || regions=("")

for region in "${regions[@]}"; do
  for row in "${selected[@]}"; do publish "$region" "$row"; done
done
