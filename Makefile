# The front door. `make` builds Release; `make run` starts the server on 127.0.0.1:8080
# with the demo viewer at http://127.0.0.1:8080/;
# `make test` builds Debug with ASan/UBSan and runs every test through ctest.
# Each target first installs any missing Debian package, so a fresh Debian 12 works.

PACKAGES := build-essential cmake pkg-config liburing-dev libwslay-dev rapidjson-dev libjemalloc-dev \
            libssl-dev libgtest-dev libbenchmark-dev libhiredis-dev redis-server redis-sentinel openssl \
            libcurl4-openssl-dev zlib1g-dev libsqlite3-dev
JOBS     ?= $(shell nproc)
ARGS     ?=
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test bench fuzz deps js-deps demo clean deb

all: build

deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $$missing; \
	fi

build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
	cmake --build build/release -j $(JOBS)

run: build demo
	./build/release/roomcast --static web/demo/dist --data-dir ./data $(ARGS)

# The browser tests need node and npm (the machine's, or Debian's) and Debian's chromium.
js-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing: nodejs npm"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nodejs npm; \
	fi
	@if ! command -v chromium >/dev/null; then \
	  echo "installing: chromium"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium; \
	fi

# The demo viewer (web/demo/dist), built with npm on first use.
demo: js-deps
	@cd web/demo && { [ -d node_modules ] || npm ci --no-audit --no-fund || npm install --no-audit --no-fund; } && npm run --silent build

# The real proxies the integration tests put in front of roomcast (tests/integration/proxy_test.cpp),
# and PyJWT, which mints an identity provider's keys and tokens (identity_provider_test.cpp).
# FastAPI and uvicorn run the example backend (examples/fastapi-backend/, its test in ctest).
TEST_PACKAGES := nginx-light haproxy python3-jwt python3-cryptography python3-fastapi uvicorn

test: deps js-deps
	@$(MAKE) --no-print-directory deps PACKAGES="$(TEST_PACKAGES)"
	cmake -S . -B build/debug -DCMAKE_BUILD_TYPE=Debug -DROOMCAST_SANITIZE=ON -DBUILD_TESTING=ON
	cmake --build build/debug -j $(JOBS)
	cd build/debug && ctest --output-on-failure -j $(JOBS) --timeout 300

# Micro-benchmarks, then the load scenarios against roomcast and the Node peer
# (bench/run.sh writes docs/benchmarks.md).
bench: build
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
	cmake --build build/release -j $(JOBS)
	./bench/run.sh
	@$(MAKE) --no-print-directory deps PACKAGES="gnuplot-nox"
	./bench/curve.sh

# libFuzzer targets (clang), each run for FUZZ_SECONDS on a copy of its seed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory deps PACKAGES="$(PACKAGES) clang libclang-rt-14-dev"
	cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DROOMCAST_FUZZ=ON -DBUILD_TESTING=OFF
	cmake --build build/fuzz -j $(JOBS) --target $(notdir $(basename $(wildcard fuzz/*_fuzz.cpp)))
	@set -e; for name in $(notdir $(basename $(wildcard fuzz/*_fuzz.cpp))); do \
	  t=build/fuzz/$$name; mkdir -p build/fuzz/corpus-$$name; \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-$$name fuzz/corpus/$$name; \
	done

# A Debian package of the Release binary (systemd unit, /etc/default/roomcast, a system
# user): build/deb/roomcast_<version>_<arch>.deb, installable with dpkg -i.
deb: build
	@./deploy/debian/make-deb.sh build/release/roomcast build/deb

clean:
	rm -rf build
