"""The `influxdb` package's client, imported without pandas.

`influxdb` imports pandas (and numpy) for its `DataFrameClient` whenever pandas is installed,
and the project installs it for the dashboard: 0.2-0.3 s of CPU at every start of `vitals
ingest`, before it takes its first message (a tenth of a 50,000-reading backlog drain). The
store never uses `DataFrameClient`, so the package is imported with pandas hidden (it then
defines a stand-in that refuses to be built); a process that has pandas loaded already, such
as the dashboard, imports it as it is. Nothing else may import pandas at that moment, so this
runs at import time, which the import lock serialises.
"""

from __future__ import annotations

import sys

if "pandas" in sys.modules:
    from influxdb import InfluxDBClient
else:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        from influxdb import InfluxDBClient
    finally:
        del sys.modules["pandas"]  # a later `import pandas` finds the real one

from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

__all__ = ["InfluxDBClient", "InfluxDBClientError", "InfluxDBServerError"]
