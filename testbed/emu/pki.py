"""Keys and certificates the emulation's daemons need, made at run time with ``openssl`` (and
``openvpn --genkey``) into the run's private directory (``RunState.private``): never into the
results, never into the repository, removed with the run.

A throw-away CA signs one server certificate per name (OpenVPN server, coturn's TLS) and one
client certificate OpenVPN clients share (``duplicate-cn``), as VPN providers ship one
profile to all their users; ECDSA P-256, valid for two days.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    servers: dict[str, Cert]
    client: Cert
    tls_auth: Path           # OpenVPN's static key for --tls-auth


def _run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")


def _signed(directory: Path, name: str, usage: str) -> Cert:
    key, csr, cert, ext = (directory / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    _run(["openssl", "req", *_EC, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}"], directory)
    ext.write_text(f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\n"
                   f"extendedKeyUsage={usage}\nsubjectAltName=DNS:{name}\n")
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
          "-days", DAYS, "-sha256", "-extfile", str(ext), "-out", str(cert)], directory)
    csr.unlink()
    ext.unlink()
    return Cert(cert, key)


def make(directory: Path, servers: tuple[str, ...]) -> Pki:
    """A CA, a certificate for each server name, a client certificate and a tls-auth key."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _run(["openssl", "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", DAYS,
          "-subj", "/CN=tb-testbed-ca", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)
    certs = {name: _signed(directory, name, "serverAuth") for name in servers}
    client = _signed(directory, "tb-client", "clientAuth")
    _run(["openvpn", "--genkey", "secret", "ta.key"], directory)
    for path in directory.iterdir():
        path.chmod(0o600)
    return Pki(directory / "ca.crt", certs, client, directory / "ta.key")
