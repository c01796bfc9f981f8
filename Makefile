# The two README commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/morocco-2016.yaml

# Debian packages for emulation (OVS, Mininet), the referees (tshark, nDPI) and circumvention.
APT_PACKAGES := openvswitch-switch mininet iproute2 iputils-ping ethtool iperf3 tcpdump \
	iptables nftables libnetfilter-queue-dev gcc python3-dev tshark libndpi-bin openvpn coturn \
	sip-tester procps psmisc
APT_STAMP := $(VENV)/.apt-installed

.PHONY: run test emulate check clean-emu bench lint

run: $(VENV)/.installed
	$(BIN)/testbed run $(SCENARIO)

test: $(VENV)/.installed-test $(APT_STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; [ $$rc -eq 5 ] && { echo "no tests collected"; exit 1; }; exit $$rc

emulate: $(VENV)/.installed-test $(APT_STAMP)
	$(BIN)/testbed run --emulate $(SCENARIO)

check: $(VENV)/.installed
	$(BIN)/testbed check

bench: $(VENV)/.installed-test $(APT_STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[plots]'
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[plots,test]'
	touch $(VENV)/.installed $@

# apt only where something is missing; as root (CI), or tell the user what to install.
$(APT_STAMP): $(VENV)/bin/python
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages (run as root to install): $$missing" >&2; exit 1; fi; \
		echo "*** apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	touch $@
