"""What `pip install .` ships (the Dockerfile's install): every file the code loads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Files the code opens by path beside its modules. Without them the image's dashboard had no
# alarm tone and no alarm colours: the tests ran from the checkout and never noticed.
DATA = ["dashboard/assets/*", "dashboard/templates/*", "vitals/profiles/*.toml",
        "simulators/*.toml"]


def test_the_wheel_holds_every_data_file_the_code_loads(tmp_path: Path) -> None:
    # From a copy of the tracked files, as a clean clone has them: a stale build/ in the
    # checkout would hold files the configuration no longer ships.
    source = tmp_path / "source"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for pattern in DATA for p in ROOT.glob(pattern)}
    assert {"dashboard/assets/alarm-sound.js", "dashboard/assets/dashboard.css"} <= expected
    assert expected - shipped == set()
