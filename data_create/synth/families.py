"""Shape families: which shape functions make up each kind of question, and their default mix.

The shape functions live in :mod:`.shapes` (flat queries), :mod:`.nested` (derived tables,
CTEs and windows over groups) and :mod:`.latest` (the latest row per entity); this module
only groups them, so none of those imports another's registry.
"""

from __future__ import annotations

from . import latest, nested, shapes
from .shapes import Shape

# Shape families: what a question *is*, in the proportions people ask them (lists and
# filtered lists first, then joins, counts, groups, the top one); harder features
# (windows, CASE, date buckets) stay a minority.  ``shape_mix`` in the run config
# reweighs them; the report shows the mix achieved.  The nested family has the most
# variants, so under the synthesizer's shape cap it is drawn less (0.04) to keep derived
# tables near their share of people's queries.
FAMILIES: dict[str, tuple[Shape, ...]] = {
    "listing": (shapes.filter_list, shapes.filter_list, shapes.plain_list, shapes.select_star,
                shapes.like, shapes.between),
    "join_listing": (shapes.join_list, shapes.join_list, shapes.subquery_in),
    "aggregate": (shapes.count_in, shapes.agg_filter, shapes.null_check),
    "join_aggregate": (shapes.join_agg,),
    "count_distinct": (shapes.count_distinct, shapes.distinct_values),
    "group": (shapes.group_agg, shapes.group_agg, shapes.join_group, shapes.join_group,
              shapes.join3),
    "argmax": (shapes.argmax,),
    "top_n": (shapes.top_n,),
    "having": (shapes.group_having, shapes.join_having),
    "compare_aggregate": (shapes.scalar_subquery,),
    "negation": (shapes.negation, shapes.negation, shapes.exists),
    "set_operation": (shapes.set_operation, shapes.both),
    "arithmetic": (shapes.arithmetic, shapes.arithmetic, shapes.share, shapes.row_ratio),
    # A rank next to GROUP BY (``RANK() OVER (ORDER BY SUM(x) DESC)``) is the window people
    # ask most; drawn only inside "nested" it came up about once per 1,000 samples.
    "advanced": (shapes.case_label, shapes.window_top, shapes.date_month, shapes.date_year,
                 nested.rank_groups),
    # Mostly derived tables / CTEs, about one in five a window over an aggregate.
    "nested": (nested.nested_avg, nested.nested_avg, nested.nested_count, nested.nested_above,
               nested.nested_above, nested.cte_top, nested.cte_top, nested.cte_top,
               nested.cte_top, nested.window_over_groups, nested.running_total,
               nested.period_change, nested.bucket_share, latest.latest_row),
}  # fmt: skip

# People join more than these weights once made them do: 53% of the defog questions join
# tables against 42% of 1,000 generated samples (11 databases, seeds 1-4), and 2% of their
# single-table questions without a GROUP BY count distinct values against 13%.  So the joined
# listings and figures weigh more, lone distinct counts and top-N lists less (2026-12-01:
# with the sorted listings, the ranks above and the parents counted through a link in
# shapes.py, the defog shapes covered went from 84.2% to 85.0%, mean of seeds 1-4).
DEFAULT_SHAPE_MIX: dict[str, float] = {
    "listing": 0.11, "join_listing": 0.14, "aggregate": 0.07, "join_aggregate": 0.11,
    "count_distinct": 0.03, "group": 0.18, "argmax": 0.06, "top_n": 0.05, "having": 0.015,
    "compare_aggregate": 0.03, "negation": 0.03, "set_operation": 0.02, "arithmetic": 0.08,
    "advanced": 0.04, "nested": 0.04,
}  # fmt: skip
