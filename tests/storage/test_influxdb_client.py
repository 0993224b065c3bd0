"""`vitals ingest` starts without loading pandas: the `influxdb` package would import it for a
client the store never uses (`vitals.storage.influxdb_client`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> None:
    """Run `code` in a new interpreter (pandas is long loaded in this one)."""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_the_ingest_and_its_influxdb_store_import_without_pandas():
    _fresh("import sys\n"
           "import ingest.service, vitals.cli, vitals.storage.influx\n"
           "loaded = sorted(m for m in ('pandas', 'numpy') if m in sys.modules)\n"
           "assert not loaded, f'the ingest imported {loaded}'\n")


def test_pandas_imports_normally_afterwards_and_first():
    _fresh("import vitals.storage.influx, pandas\n"
           "assert pandas.DataFrame({'a': [1]}).shape == (1, 1)\n")
    _fresh("import pandas, influxdb, vitals.storage.influx\n"
           "assert influxdb.DataFrameClient.__module__ == 'influxdb._dataframe_client'\n")
