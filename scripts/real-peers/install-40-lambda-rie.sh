#!/usr/bin/env bash
# AWS's Lambda Runtime Interface Emulator. Its v1.x tags are not canonical semver (Go reads `@v1.30`
# as a prefix query and finds nothing), so it is pinned by pseudo-version.
source "$(dirname "$0")/lib.sh"
go_install_pinned aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie v0.0.0-20261030222936-bef5c4ba774d lambda-rie
