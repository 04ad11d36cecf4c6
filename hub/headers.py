"""How a column's header is read, wherever a header is met: the pipeline's inputs and the sheets it writes back to."""
from __future__ import annotations

import re


def normalize_header(cell: object) -> str:
    """`Flight Start`, ` flight-start ` and `FLIGHT_START` are the same column."""
    return re.sub(r"[\s\-]+", "_", str(cell if cell is not None else "").strip().lower())
