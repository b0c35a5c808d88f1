"""Percentiles and the table every benchmark prints."""

import statistics
from dataclasses import dataclass, field


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of samples (fraction in 0..1)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Row:
    label: str
    samples: list[float]
    unit: str = "ms"
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)

    def add(self, label: str, samples: list[float], unit: str = "ms", note: str = ""):
        row = Row(label=label, samples=list(samples), unit=unit, note=note)
        self.rows.append(row)
        return row

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    def render(self) -> str:
        """Return the table as Markdown, so docs/benchmarks.md can take it as is."""
        header = ["", "n", "p50", "p95", "p99", "max", "unit", "ratio / target"]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        for row in self.rows:
            if row.samples:
                figures = [
                    f"{row.p50:.1f}",
                    f"{percentile(row.samples, 0.95):.1f}",
                    f"{percentile(row.samples, 0.99):.1f}",
                    f"{max(row.samples):.1f}",
                ]
            else:
                figures = ["-"] * 4
            cells = [row.label, str(len(row.samples)), *figures, row.unit, row.note]
            lines.append("| " + " | ".join(cells) + " |")
        lines.extend(f"\n{note}" for note in self.footnotes)
        return "\n".join(lines) + "\n"


def ratio_note(value: float, peer: float, peer_name: str) -> str:
    return f"{value / peer:.2f}x {peer_name}" if peer else f"no {peer_name} figure"


def target_note(value: float, limit: float, what: str, *, below: bool = True) -> str:
    met = value < limit if below else value >= limit
    sign = "<" if below else ">="
    return f"{what} {sign} {limit:g}: {'met' if met else 'MISSED'}"
