"""The report's figures: matplotlib (Agg backend) drawings of a ReportData, returned as PNG data URIs so
that the page embeds them and loads nothing from outside. Needs the `report` extra (matplotlib)."""

from __future__ import annotations

import base64
import io
import warnings

from pipeline.commands.report.data import NO_TOPIC, ReportData


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# Record strings go into figures as plain text: no mathtext ("$...$" in an entity must not be parsed).
_RC = {"text.parse_math": False, "font.size": 9, "svg.fonttype": "none"}


def _topic_colors(topics: list[str]) -> dict[str, tuple]:
    plt = _plt()
    cmap = plt.get_cmap("tab20" if len(topics) > 10 else "tab10")
    colors, i = {}, 0
    for t in topics:
        if t == NO_TOPIC:
            colors[t] = (0.75, 0.75, 0.75, 1.0)
        else:
            colors[t] = cmap(i % cmap.N)
            i += 1
    return colors


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def figure_topic_volume(data: ReportData):
    plt = _plt()
    b = data.bins
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=100)
    x = list(range(len(b.starts)))
    bottom = [0] * len(x)
    colors = _topic_colors(data.topics)
    for t in data.topics:
        ys = b.counts.get(t) or [0] * len(x)
        if not any(ys):
            continue
        ax.bar(x, ys, bottom=bottom, width=0.85, label=_short(t, 30), color=colors[t], linewidth=0)
        bottom = [a + y for a, y in zip(bottom, ys)]
    fmt = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}[b.unit]
    step = max(1, len(x) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([s.strftime(fmt) for s in b.starts[::step]], rotation=45, ha="right")
    ax.set_xlim(-0.6, max(len(x), 1) - 0.4)
    ax.set_ylabel("articles × topic")
    ax.set_title(f"Topic volume per {b.unit} (stacked; an article counts once for each of its topics)")
    ax.grid(axis="y", alpha=0.3)
    if any(bottom):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def figure_cooccurrence(data: ReportData):
    plt = _plt()
    n = len(data.cooc_topics)
    size = max(4.0, min(11.0, 1.0 + 0.6 * n))
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=100)
    if n == 0:
        ax.text(0.5, 0.5, "no topics", ha="center", va="center")
        ax.set_axis_off()
        return fig
    im = ax.imshow(data.cooc, cmap="Blues", vmin=0)
    labels = [_short(t, 24) for t in data.cooc_topics]
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels)
    vmax = max(max(row) for row in data.cooc) or 1
    for i in range(n):
        for j in range(n):
            v = data.cooc[i][j]
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > 0.6 * vmax else "black")
    ax.set_title("Topic co-occurrence (articles; diagonal = articles with the topic)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def figure_rising(data: ReportData):
    plt = _plt()
    rows = data.rising.entities
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.32 * len(rows) + 1.2)), dpi=100)
    if not rows:
        ax.text(0.5, 0.5, "no rising entities", ha="center", va="center")
        ax.set_axis_off()
        return fig
    ys = list(range(len(rows)))[::-1]
    h = 0.4
    ax.barh([y + h / 2 for y in ys], [r.first for r in rows], height=h, label="first half", color="#9db4d0")
    ax.barh([y - h / 2 for y in ys], [r.second for r in rows], height=h, label="second half", color="#d9534f")
    ax.set_yticks(ys)
    ax.set_yticklabels([_short(f"{r.text} ({r.label})", 40) for r in rows])
    ax.set_xlabel("mentions")
    ax.set_title("Rising entities: mentions in the first vs the second half of the period")
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def figure_to_data_uri(fig) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_figures(data: ReportData) -> dict[str, str]:
    """{figure id: PNG data URI}."""
    plt = _plt()
    out = {}
    with plt.rc_context(_RC), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. glyphs missing from the bundled font
        out["fig-topic-volume"] = figure_to_data_uri(figure_topic_volume(data))
        out["fig-cooccurrence"] = figure_to_data_uri(figure_cooccurrence(data))
        out["fig-rising"] = figure_to_data_uri(figure_rising(data))
    return out
