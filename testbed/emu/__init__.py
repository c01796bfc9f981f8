"""Emulation: Mininet + Open vSwitch (userspace datapath) + the os-ken DPI controller, real packets."""
