"""Dask worker preload (``dask worker ADDRESS --nthreads 1 --preload umm_assets.defs.dask_worker``): every
worker compiles PyTensor code into a directory of its own, on its own disk.

PyTensor's compile cache must never be shared between workers through a network disk (its file lock is
slow or broken there, and one worker's half-written module is another's crash). The worker starts from
its machine's cache (``PYTENSOR_FLAGS=base_compiledir=...`` as the worker was started, or PyTensor's
default), copied into the worker's Dask scratch folder, so a pre-warmed image still saves the ~13 s
compile, and no two workers ever write the same files. Runs before the worker imports PyTensor.
"""

import os
import re
import shutil
from pathlib import Path

FLAG = re.compile(r"base_compiledir=([^,]+)")


def machine_cache() -> Path | None:
    """The compile cache the worker was started with, if any."""
    found = FLAG.search(os.environ.get("PYTENSOR_FLAGS", ""))
    return Path(found.group(1)) if found else None


def dask_setup(worker) -> None:
    own = Path(worker.local_directory) / "pytensor"
    seed = machine_cache()
    if seed is not None and seed.is_dir() and not own.exists():
        # a copy, not a link: the worker writes here; ignore PyTensor's lock files of other processes
        shutil.copytree(seed, own, ignore=shutil.ignore_patterns("lock_dir", "*.lock"), dirs_exist_ok=True)
    others = FLAG.sub("", os.environ.get("PYTENSOR_FLAGS", "")).strip(",")
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [others, f"base_compiledir={own}"]))
