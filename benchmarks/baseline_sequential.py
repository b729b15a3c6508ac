"""The sequential reference, in the manner of the original script: ``requests``, one file after
another, each read whole into memory, then one album request at the end.

    python benchmarks/baseline_sequential.py URL KEY FOLDER ALBUM
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import requests


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def main(url: str, key: str, folder: str, album: str) -> int:
    api = url.rstrip("/") + "/api"
    headers = {"x-api-key": key}
    albums = requests.get(f"{api}/albums", headers=headers, timeout=30).json()
    album_id = next((a["id"] for a in albums if a["albumName"] == album), None)
    if album_id is None:
        album_id = requests.post(
            f"{api}/albums", json={"albumName": album}, headers=headers, timeout=30
        ).json()["id"]
    ids = []
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file():
            continue
        st = path.stat()
        data = path.read_bytes()  # whole-file read, as the seed script did
        fields = {
            "deviceAssetId": f"{path.name}-{st.st_size}",
            "deviceId": "baseline",
            "fileCreatedAt": iso(st.st_mtime),
            "fileModifiedAt": iso(st.st_mtime),
            "filename": path.name,
        }
        r = requests.post(
            f"{api}/assets",
            data=fields,
            files={"assetData": (path.name, data)},
            headers=headers,
            timeout=600,
        )
        if r.status_code in (200, 201):
            ids.append(r.json()["id"])
        else:
            print(f"{path.name}: HTTP {r.status_code} {r.text[:200]}", file=sys.stderr)
    if ids:
        requests.put(
            f"{api}/albums/{album_id}/assets", json={"ids": ids}, headers=headers, timeout=600
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    raise SystemExit(main(*sys.argv[1:]))
