"""What the benchmark prints: a progress line while it runs, then the machine and the table."""

import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = [
    "django",
    "channels",
    "channels-redis",
    "djangorestframework-simplejwt",
    "uvicorn",
    "uvloop",
    "websockets",
    "redis",
]


class Progress:
    """One status line on stderr, rewritten in place on a terminal (a line per phase otherwise)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.interactive = stream.isatty()
        self.phase, self.done, self.total = "", 0, 0
        self.shown_at = 0.0

    def start(self, phase: str, total: int) -> "Progress":
        self.phase, self.done, self.total = phase, 0, total
        if not self.interactive:
            print(f"... {phase}", file=self.stream, flush=True)
        self.show()
        return self

    def advance(self, count: int = 1) -> None:
        self.done += count
        if time.monotonic() - self.shown_at > 0.1 or self.done == self.total:
            self.show()

    def show(self) -> None:
        self.shown_at = time.monotonic()
        if self.interactive:
            line = f"{self.phase}: {self.done}/{self.total}"
            self.stream.write(f"\r\033[K{line}")
            self.stream.flush()

    def clear(self) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
            self.stream.flush()


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            continue
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable)",
        "system": f"{platform.system()} {platform.release()}, load average {load} at the start",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
    }


@dataclass
class Row:
    """One line of the table: medians over the rounds, ratios to the row's baseline."""

    key: str
    label: str
    unit: str
    value: float  # median
    ratio: float | None = None  # median of the per-round ratios to the baseline
    target: str = ""
    cpu_ms: float | None = None  # server CPU ms per operation, median
    cpu_ratio: float | None = None
    failures: str = ""
    lost: int | None = None  # messages lost, over every round; None where nothing is sent

    def numbers(self) -> list[float]:
        return [x for x in (self.value, self.ratio, self.cpu_ms, self.cpu_ratio) if x is not None]


def median(values) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def ratios(values, baselines) -> list[float | None]:
    return [
        value / baseline if value is not None and baseline else None
        for value, baseline in zip(values, baselines, strict=True)
    ]


def rate_row(key, label, samples, baselines=None, target="") -> Row:
    """Operations per second and server CPU per operation, against the baseline of each round."""
    rates = [sample.per_second for sample in samples]
    cpu = [sample.server_cpu_ms for sample in samples]
    row = Row(
        key,
        label,
        unit="msgs/s" if "fanout" in key else "conn/s",
        value=median(rates),
        target=target,
        cpu_ms=median(cpu),
        failures=failures_text(samples),
        lost=sum(sample.lost for sample in samples),
    )
    if baselines is not None:
        row.ratio = median(ratios(rates, [sample.per_second for sample in baselines]))
        row.cpu_ratio = median(ratios(cpu, [sample.server_cpu_ms for sample in baselines]))
    return row


def failures_text(samples) -> str:
    failures = sum((sample.failures for sample in samples), Counter())
    return ", ".join(f"{kind}: {n}" for kind, n in failures.most_common())


def fmt(value: float | None, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    digits = 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f}{suffix}"


def table(rows: list[Row]) -> str:
    header = (
        "scenario",
        "median",
        "unit",
        "lost",
        "ratio",
        "target",
        "srv CPU ms/op",
        "CPU ratio",
        "errors",
    )
    lines = [
        (
            row.label,
            fmt(row.value),
            row.unit,
            "-" if row.lost is None else str(row.lost),
            fmt(row.ratio, "x"),
            row.target,
            fmt(row.cpu_ms),
            fmt(row.cpu_ratio, "x"),
            row.failures or "0",
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    left = {0, 2, 5, 8}

    def render(cells):
        return "  ".join(
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *map(render, lines)])
