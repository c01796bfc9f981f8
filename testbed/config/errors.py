"""The one error type bad input raises: it names the file, the YAML path and the line."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad input: ``file:line yaml.path: message`` on one line; the CLI exits 2."""

    def __init__(self, file: str, yaml_path: str, line: int | None, message: str) -> None:
        self.file = file
        self.yaml_path = yaml_path
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.yaml_path}: {self.message}" if self.yaml_path else f"{where}: {self.message}"
