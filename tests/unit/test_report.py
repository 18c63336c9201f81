"""The HTML run report: figures in table cells, charts embedded, data escaped."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from opslake.report import Summary, format_value, render_html, render_report

HOSTILE = "<script>alert('x')</script>"


class Tables(HTMLParser):
    """Cell texts of every <table id=...>, row by row (header row first), and every <img src>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes["id"] or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attributes["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
def summary() -> Summary:
    return Summary(
        table_rows={"lake.telemetry.node_metrics": 120_960, "lake.analytics.anomalies": 40_320},
        ingest=pd.DataFrame(
            [{"source": "node_metrics", "rows_in": 121_000, "accepted": 120_960, "rejected": 40}]
        ),
        placement=pd.DataFrame(
            {
                "pool_id": ["aws-us-east-1-m5", "gcp-europe-west4-n2"],
                "nodes_used": [14, 9],
                "lower_bound": [13, 9],
                "cpu_util": [0.8125, 0.5],
                "cost_per_hour": [1234.5, 88.0],
            }
        ),
        anomaly={
            "rows": 40_320,
            "flagged": 96,
            "labelled": 120,
            "precision": 0.75,
            "recall": 0.6,
            "f1": 2 * 0.75 * 0.6 / (0.75 + 0.6),
            "version": "v20250101",
            "scopes": ["aws", "gcp"],  # not a scalar: not a figure
        },
        anomaly_by_type=pd.DataFrame(
            {"anomaly_type": ["spike", "stuck"], "labelled": [80, 40], "detected": [60, 12]}
        ),
        carbon_by_provider=pd.DataFrame(
            {"provider": ["aws", "gcp"], "kwh": [512.3, 100.0], "kgco2e": [210.55, 12.0]}
        ),
        carbon_daily=pd.DataFrame(
            {
                "dt": ["2025-01-01", "2025-01-01", "2025-01-02"],
                "provider": ["aws", "gcp", "aws"],
                "kgco2e": [100.0, 6.0, 110.55],
            }
        ),
        recommendations=pd.DataFrame(
            {
                "workload_id": [HOSTILE, "w-2"],
                "kind": ["time_shift", "location_shift"],
                "saving_gco2e": [1500.25, float("nan")],
            }
        ),
        timings={"land": 1.25, "ingest": 30.0},
        lineage={"sent": 0, "spooled": 14, "dropped": 0},
    )


def test_quality_figures_are_a_table_with_exact_values(summary: Summary) -> None:
    tables = parse(render_report(summary, images={})).tables
    assert tables["anomaly-quality-table"] == [
        ["figure", "value"],
        ["Precision", "0.750"],
        ["Recall", "0.600"],
        ["F1", "0.667"],
        ["Points flagged", "96"],
        ["Points labelled", "120"],
        ["Points scored", "40,320"],
        ["version", "v20250101"],
    ]


def test_every_section_shows_its_numbers_in_cells(summary: Summary) -> None:
    tables = parse(render_report(summary, images={})).tables
    assert tables["table-rows-table"] == [
        ["table", "rows"],
        ["lake.analytics.anomalies", "40,320"],
        ["lake.telemetry.node_metrics", "120,960"],
    ]
    assert tables["ingest-table"][1] == ["node_metrics", "121,000", "120,960", "40"]
    assert tables["placement-table"] == [
        ["pool_id", "nodes_used", "lower_bound", "cpu_util", "cost_per_hour"],
        ["aws-us-east-1-m5", "14", "13", "0.812", "1,234.500"],
        ["gcp-europe-west4-n2", "9", "9", "0.500", "88.000"],
    ]
    assert tables["anomaly-by-type-table"][1:] == [["spike", "80", "60"], ["stuck", "40", "12"]]
    assert tables["carbon-by-provider-table"][1] == ["aws", "512.300", "210.550"]
    assert tables["recommendations-table"][1:] == [
        [HOSTILE, "time_shift", "1,500.250"],
        ["w-2", "location_shift", ""],
    ]
    assert tables["lineage-table"][1:] == [["dropped", "0"], ["sent", "0"], ["spooled", "14"]]
    assert tables["timings-table"][1:] == [["land", "1.250"], ["ingest", "30.000"]]


def test_data_is_escaped_not_executed(summary: Summary) -> None:
    html = render_report(summary, images={})
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html  # the report itself ships no script either


def test_numeric_columns_are_right_aligned_and_text_columns_not(summary: Summary) -> None:
    html = render_report(summary, images={})
    placement = html[html.index('id="placement-table"') :]
    placement = placement[: placement.index("</table>")]
    assert re.findall(r"<td( class=\"num\")?>", placement)[:5] == ["", *[' class="num"'] * 4]


def test_charts_are_embedded_pngs(summary: Summary) -> None:
    images = parse(render_report(summary)).images
    assert len(images) == 3  # placement, anomaly, carbon
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_sections_say_none_and_an_absent_lineage_section_is_left_out(tmp_path: Path) -> None:
    path = render_html(Summary(), tmp_path / "out" / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.count('<p class="empty">none</p>') == 9  # incl. the alert events section
    assert 'id="lineage"' not in html
    assert "lineage replay" not in html
    assert parse(html).tables == {}


def test_spooled_lineage_events_are_pointed_out(summary: Summary) -> None:
    html = render_report(summary, images={})
    assert "14 lineage events could not be delivered" in " ".join(html.split())


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.8125, "0.812"), (1234567, "1,234,567"), (None, ""), (float("nan"), ""), (True, "true")],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text
