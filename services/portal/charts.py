"""Charts drawn on the server as small accessible SVG (a title and a text table beside each)."""
from __future__ import annotations

from html import escape


def bar_chart(title: str, bars: list[tuple[str, float]], *, width: int = 480, bar_height: int = 22,
              unit: str = "", colors: dict[str, str] | None = None) -> str:
    """Horizontal bars, one per (label, value)."""
    label_w, gap = 140, 6
    height = max(1, len(bars)) * (bar_height + gap) + gap
    top = max([value for _, value in bars] + [1])
    rows = []
    for i, (label, value) in enumerate(bars):
        y = gap + i * (bar_height + gap)
        length = (width - label_w - 60) * (value / top if top else 0)
        color = (colors or {}).get(label, "#3559c7")
        shown = f"{value:g}{unit}"
        rows.append(
            f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.0f}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="{bar_height}" fill="{color}" rx="3"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + bar_height * 0.7:.0f}">{escape(shown)}</text>')
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(rows)}</svg>')


def column_chart(title: str, columns: list[tuple[str, float]], *, width: int = 480, height: int = 180) -> str:
    """Vertical columns over time (e.g. meetings held per week)."""
    bottom, left = height - 24, 8
    count = max(1, len(columns))
    step = (width - left * 2) / count
    top = max([value for _, value in columns] + [1])
    parts = [f'<line x1="{left}" y1="{bottom}" x2="{width - left}" y2="{bottom}" stroke="#888"/>']
    for i, (label, value) in enumerate(columns):
        h = (bottom - 20) * (value / top if top else 0)
        x = left + i * step + step * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="#2f8f6b" rx="2"><title>{escape(label)}: {value:g}</title></rect>')
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle">{value:g}</text>')
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(parts)}</svg>')
