#!/usr/bin/env bash
# Upload the browser game (web/) to the stack's S3 bucket, with a config.json that points
# it at the deployed WebSocket API, and refresh CloudFront. Run after `sam deploy`.
#
#   infra/deploy-web.sh [STACK_NAME]     # default: roomcast (as in infra/samconfig.toml)
#
# Needs the AWS CLI v2 and the credentials/region the stack was deployed with.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-roomcast}

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

bucket=$(output WebBucketName)
if [ -z "$bucket" ] || [ "$bucket" = "None" ]; then
  echo "stack $stack has no web bucket (deployed with WebHosting=disabled?)" >&2
  exit 1
fi
socket_url=$(output WebSocketUrl)
stage=$(output StageName)
distribution=$(output WebDistributionId)
web_url=$(output WebUrl)

echo "== web/ -> s3://$bucket"
aws s3 sync web/ "s3://$bucket/" --delete --no-progress \
  --exclude ".*" --exclude "*/.*" --exclude "node_modules/*" --exclude "tests/*" \
  --exclude "package.json" --exclude "package-lock.json" --exclude "tsconfig*.json" \
  --exclude "config.json"

echo "== config.json: $socket_url"
printf '{"socketUrl":"%s","stage":"%s","protocol":"roomcast.v1"}\n' "$socket_url" "$stage" |
  aws s3 cp - "s3://$bucket/config.json" --content-type application/json --cache-control no-store

echo "== CloudFront invalidation"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths "/*" > /dev/null

echo "the game: $web_url (a new distribution takes a few minutes to come up)"
