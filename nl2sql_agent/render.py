"""Vega-Lite spec -> SVG, offline, with vl-convert (a Rust build of Vega; no browser, no
network).  Imported only where a picture is wanted (the CLI's chart file, the server).

>>> svg = to_svg({"mark": "bar", "data": {"values": [{"a": "x", "b": 1}]},
...               "encoding": {"x": {"field": "a", "type": "nominal"},
...                            "y": {"field": "b", "type": "quantitative"}}})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .charts import vega_lite_version


def to_svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document."""
    try:
        import vl_convert
    except ImportError:
        raise RuntimeError(
            "rendering charts needs vl-convert-python: pip install 'nl2sql-factory[agent]'"
        ) from None
    version = vega_lite_version(vl_convert.get_vegalite_versions())
    return vl_convert.vegalite_to_svg(spec, vl_version=version)
