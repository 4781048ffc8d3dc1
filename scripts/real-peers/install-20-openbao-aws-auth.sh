#!/usr/bin/env bash
# OpenBao's AWS auth plugin (not built into OpenBao since it dropped the cloud vendors' plugins),
# built from github.com/openbao/openbao-plugins. Its tags (auth-aws-v0.1.1, …) are not Go module
# versions: the module sits at the repository root, so Go resolves such a tag to a pseudo-version
# (v0.0.0-<commit time>-<12 hex>). The binary is named openbao-plugin-auth-aws; `bao server -dev
# -dev-plugin-dir` registers every file of .real/plugins under its file name.
source "$(dirname "$0")/lib.sh"
# The pseudo-version that auth-aws-v0.1.1 resolves to. Override to try another one.
VERSION=${OPENBAO_AWS_AUTH_VERSION:-auth-aws-v0.1.1}
go_install_pinned openbao-plugin-auth-aws github.com/openbao/openbao-plugins/auth/aws/cmd "$VERSION" openbao-aws-auth
mkdir -p "$REAL_DIR/plugins"
cp -f "$REAL_DIR/bin/openbao-plugin-auth-aws" "$REAL_DIR/plugins/openbao-plugin-auth-aws"
