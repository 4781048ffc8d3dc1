# SAM builds the layer with `BuildMethod: makefile`: it runs `make build-<LayerLogicalId>` with
# ARTIFACTS_DIR set to where the layer's content must go (extensions/ and vault-lambda-agent/).
# The project's own build does the work; this file only calls it.

.PHONY: build-VaultLambdaAgentLayer build-VaultLambdaAgentStandaloneX86Layer build-VaultLambdaAgentStandaloneArm64Layer layer test

build-VaultLambdaAgentLayer:
	test -n "$(ARTIFACTS_DIR)" || (echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2)
	test -d node_modules/esbuild || npm ci --no-audit --no-fund
	node scripts/build.mjs --out "$(ARTIFACTS_DIR)" --layer-only

# The standalone layers: the same tree plus vault-lambda-agent/bin/node for the layer's architecture
# (fetched through npm, checked against its pinned sha512, stripped, cached in node_modules/.cache).
build-VaultLambdaAgentStandaloneX86Layer:
	test -n "$(ARTIFACTS_DIR)" || (echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2)
	test -d node_modules/esbuild || npm ci --no-audit --no-fund
	node scripts/build.mjs --out "$(ARTIFACTS_DIR)" --layer-only --flavor standalone --arch x86_64

build-VaultLambdaAgentStandaloneArm64Layer:
	test -n "$(ARTIFACTS_DIR)" || (echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2)
	test -d node_modules/esbuild || npm ci --no-audit --no-fund
	node scripts/build.mjs --out "$(ARTIFACTS_DIR)" --layer-only --flavor standalone --arch arm64

layer:
	npm run build

test:
	npm test
