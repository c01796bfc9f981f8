"""The one error type bad input raises: it names the file, the YAML path and the line."""

from __future__ import annotations

# what str.splitlines breaks at: a value echoed in a message must not make it two lines
_ONE_LINE = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


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
        text = f"{where} {self.yaml_path}: {self.message}" if self.yaml_path else f"{where}: {self.message}"
        return text.translate(_ONE_LINE)
