# The two README commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/morocco-2016.yaml

# Debian packages for emulation (OVS, Mininet), the referees (tshark, nDPI) and circumvention.
APT_PACKAGES := openvswitch-switch mininet iproute2 iputils-ping ethtool iperf3 tcpdump \
	iptables nftables libnetfilter-queue-dev gcc python3-dev tshark libndpi-bin openvpn coturn \
	sip-tester procps psmisc openssl chromium tmux
APT_STAMP := $(VENV)/.apt-installed
# Emulation: os-ken and NetfilterQueue (the pyproject 'emu' extra, built against apt's
# libnetfilter-queue-dev), apt's Mininet exposed to the venv, Open vSwitch running.
EMU_STAMP := $(VENV)/.installed-emu
MININET_LINK = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)/mininet
OVS_CTL := /usr/share/openvswitch/scripts/ovs-ctl
# Emulation runs in real time: by default a short variant (120 s of arrivals per cell, its
# timeline compressed with them, 10 s calls, no circumvention: about 4 minutes). EMU_ARGS= runs
# the scenario as written.
EMU_ARGS ?= --duration 120 --holding 10 --circumventions none

# pytest, where "no tests collected" (exit 5) is a failure: CI never passes by running nothing
pytest = $(BIN)/python -m pytest -q $(1); rc=$$?; [ $$rc -eq 5 ] && { echo "no tests collected" >&2; exit 1; }; exit $$rc

.PHONY: run test test-all unit emulate check clean-emu bench lint emu-setup ovs FORCE

run: $(VENV)/.installed
	$(BIN)/testbed run $(SCENARIO)

# As root (CI): every Debian package installed, Open vSwitch started, every test run; a skipped
# test fails the run (tests/conftest.py). Not root: what needs no root, and one line on the rest.
test: $(VENV)/.installed-test
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-all; else \
		echo "*** not root: unit and corpus tests only; for the emulation tests (tests/integration) run: sudo make test"; \
		$(MAKE) --no-print-directory unit; fi

test-all: $(VENV)/.installed-test $(APT_STAMP) emu-setup
	$(call pytest,tests)

# the tests that need no root, no Debian package and no network
unit: $(VENV)/.installed-test
	$(call pytest,tests/unit tests/corpus)

emulate: $(VENV)/.installed-test $(APT_STAMP) emu-setup
	$(BIN)/testbed run --emulate $(SCENARIO) $(EMU_ARGS)

check: $(VENV)/.installed
	$(BIN)/testbed check

lint: $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[plots,test,dev]'
	$(BIN)/ruff check testbed topologies tests benchmarks
	$(BIN)/mypy --explicit-package-bases testbed topologies

bench: $(VENV)/.installed-test $(APT_STAMP) emu-setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[plots]'
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[plots,test,referees]'
	touch $(VENV)/.installed $@

# apt only where something is missing; as root (CI), or tell the user what to install. Checked on
# every run (FORCE): a package removed since is installed again, or the run fails.
$(APT_STAMP): $(VENV)/bin/python FORCE
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages (run as root to install): $$missing" >&2; exit 1; fi; \
		echo "*** apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi; \
	if [ -n "$$missing" ] || [ ! -e $@ ]; then touch $@; fi

# --- emulation (root): Mininet + Open vSwitch (userspace datapath) + os-ken ---------------
emu-setup: $(EMU_STAMP) ovs
	@[ -e "$(MININET_LINK)" ] || ln -sfn /usr/lib/python3/dist-packages/mininet "$(MININET_LINK)"

$(EMU_STAMP): $(VENV)/bin/python pyproject.toml $(APT_STAMP)
	$(BIN)/python -m pip install -q -e '.[plots,test,referees,emu]'
	touch $@

# No systemd here: ovs-ctl starts ovsdb-server and ovs-vswitchd, unless they already run.
ovs:
	@if [ "$$(id -u)" != 0 ]; then echo "not root: Open vSwitch not started (emulation tests will skip)"; \
	elif ovs-vsctl -t 2 show >/dev/null 2>&1; then :; \
	else $(OVS_CTL) start --system-id=random 2>&1 | grep -v 'ulimit' || true; \
		ovs-vsctl -t 5 show >/dev/null || { echo "Open vSwitch did not start" >&2; exit 1; }; fi

clean-emu: $(VENV)/.installed
	$(BIN)/testbed clean
