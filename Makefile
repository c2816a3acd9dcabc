# Happy Path: `make dev` runs the whole app locally, `make test` runs every test. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (the Lambda runtime's version): python3.13 on PATH, else pyenv's 3.13.
PYTHON313 ?= $(shell p=$$(pyenv prefix 3.13 2>/dev/null | head -n1); \
	if [ -x "$$p/bin/python3.13" ]; then echo "$$p/bin/python3.13"; else command -v python3.13; fi)
VENV := .venv
SOURCE_ROOTS := backend/shared backend/functions workflows/functions local
PY := $(VENV)/bin/python
# make postman: the local app's port (the API is on the next one) and the photo the collection uploads (its
# upload form declares jolla.jpg's size).
APP_PORT ?= 8080
PHOTO ?= ../shared/photos/jolla.jpg
# sam build (without a container) needs a real python3.13 first on PATH, not a pyenv shim.
SAM_ENV := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON313)):$(abspath $(VENV))/bin:$$PATH"

.PHONY: help venv venv-moderation native dev postman seed test test-python test-frontend lint format typecheck openapi validate build web-config publish-web bench clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (python3.13 on PATH or pyenv 3.13)"; exit 1; }
	test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group dev
	# The source roots (one per SAM CodeUri, plus the local runtime) go on the venv's path.
	printf '%s\n' $(addprefix $(CURDIR)/,$(SOURCE_ROOTS)) > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/happypath-sources.pth
	touch $@

venv: $(VENV)/.installed  ## create .venv with everything the project needs

$(VENV)/.moderation: $(VENV)/.installed
	$(PY) -m pip install --quiet --group moderation
	touch $@

venv-moderation: $(VENV)/.moderation  ## add the offline moderation models (local runtime only)

# The progressive JPEG decoder, the WebP encoder and the resampler (workflows/native), for this machine and for
# Lambda's arm64, with Zig's C compiler from PyPI (ziglang, in the dev group): no system compiler needed. `sam build`
# ships the libraries with the workflow functions (as `.so.1`: its Python builder leaves `*.so` out); each
# process loads its own. build_native.py has the flags and, for the WebP encoder (libwebp's source, patched) and
# the resampler (stb_image_resize2), the upstream sources (from Debian's archive, checked).
NATIVE_DIR := workflows/functions/happypath_workflow
NATIVE_LIBS := $(foreach arch,x86_64 aarch64,$(foreach lib,progressive_jpeg webp_encoder resampler,$(NATIVE_DIR)/_$(lib).$(arch).so.1))
NATIVE_BUILD := workflows/native/build_native.py $(VENV)/.installed
$(NATIVE_DIR)/_progressive_jpeg.%.so.1: workflows/native/progressive_jpeg.c workflows/native/progressive_jpeg.h $(NATIVE_BUILD)
	$(PY) workflows/native/build_native.py progressive_jpeg $* $@

$(NATIVE_DIR)/_webp_encoder.%.so.1: workflows/native/webp_encoder.c workflows/native/webp_encoder.h workflows/native/libwebp-pruned-rd.patch $(NATIVE_BUILD)
	$(PY) workflows/native/build_native.py webp_encoder $* $@

$(NATIVE_DIR)/_resampler.%.so.1: workflows/native/resampler.c workflows/native/resampler.h $(NATIVE_BUILD)
	$(PY) workflows/native/build_native.py resampler $* $@

native: $(NATIVE_LIBS)  ## build the progressive JPEG decoder, the WebP encoder and the resampler (x86_64 and arm64)

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

postman/node_modules/.installed: postman/package-lock.json  # newman: the tests run the Postman collection
	cd postman && npm ci --no-audit --no-fund
	touch $@

dev: venv-moderation native frontend/node_modules/.installed  ## start the whole app locally (no Docker, no AWS account)
	cd frontend && npm run build
	$(PY) -m happypath_local serve $(ARGS)

postman: postman/node_modules/.installed  ## run the Postman collection with newman on the running local app (APP_PORT=, PHOTO=)
	@collection=$$(mktemp --suffix=.json) && trap 'rm -f "$$collection"' EXIT && \
	jq --arg src "$(abspath $(PHOTO))" '(.item[] | select(.name | startswith("Upload the photo")) | .request.body.formdata[] | select(.type == "file") | .src) = $$src' \
		postman/happy-path.postman_collection.json > "$$collection" && \
	postman/node_modules/.bin/newman run "$$collection" --environment postman/local.postman_environment.json \
		--env-var apiUrl=http://127.0.0.1:$$(($(APP_PORT) + 1)) --env-var authority=http://127.0.0.1:$(APP_PORT)/auth

seed: venv  ## add demo parks and restaurants to the running local app
	$(PY) -m happypath_local seed $(ARGS)

test: test-python test-frontend  ## run every test (Python, packaging, frontend, browser)

test-python: venv-moderation native postman/node_modules/.installed
	$(SAM_ENV) $(PY) -m pytest

test-frontend: venv-moderation native frontend/node_modules/.installed
	cd frontend && npm test && npm run build && npm run test:e2e

lint: venv  ## ruff (lint and format) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy scripts
	$(PY) -m mypy bench

format: venv  ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

openapi: venv  ## regenerate docs/openapi.json from the API resolver
	$(PY) scripts/export_openapi.py

validate: venv  ## sam validate --lint
	$(SAM_ENV) $(VENV)/bin/sam validate --lint --region us-east-1

BUILD_DIR ?= .aws-sam/build
SAM_BUILD_ARGS ?=
# sam build ships no bytecode, and Lambda's code directory is read-only: without .pyc files every cold start
# compiles every module (about a second for a workflow handler). Hash-based .pyc files stay valid in the zip,
# whose entries SAM dates 1980.
build: venv native  ## sam build (arm64, Python 3.13), then compile the bundles' bytecode
	$(SAM_ENV) $(VENV)/bin/sam build --build-dir $(BUILD_DIR) $(SAM_BUILD_ARGS)
	# numpy's own test suites: ~16 MB in each image function's bundle, never imported.
	find $(BUILD_DIR) -type d -name tests -path '*/numpy/*' -prune -exec rm -rf {} +
	$(PY) -m compileall -q -j 0 --invalidation-mode checked-hash $(BUILD_DIR)

# The stack and region default to the last deploy's (samconfig.toml); STACK=name or ARGS=--region to override.
STACK ?=
web-config: venv  ## write frontend/dist/config.json for the deployed stack (npm run build first)
	$(PY) scripts/web_config.py $(if $(STACK),--stack $(STACK)) $(ARGS)

publish-web: venv frontend/node_modules/.installed  ## build the web app and serve it from the deployed stack
	cd frontend && npm run build
	$(PY) scripts/publish_web.py $(if $(STACK),--stack $(STACK)) $(ARGS)

bench: venv native  ## resizer benchmark against sharp (installs sharp into a throwaway folder)
	$(PY) bench/resize_bench.py $(ARGS)

clean:  ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .ruff_cache .mypy_cache frontend/dist test-artifacts .native-build/*/
