"""The upload body we write ourselves: Immich's field order (the type check sees only fields that
came before the file part), the exact name in the header, escaped only where it would break it."""

from __future__ import annotations

import re

from async_uploader.immich import build_multipart


def test_the_fields_come_in_immichs_order() -> None:
    fields = [("deviceId", "d"), ("fileCreatedAt", "t"), ("filename", "a.png")]
    boundary, head, tail = build_multipart(
        fields, "assetData", "a.png", "application/octet-stream", ("a.png.xmp", b"<x/>")
    )
    text = head.decode()
    names = re.findall(r'form-data; name="([^"]+)"', text)
    assert names == ["deviceId", "fileCreatedAt", "sidecarData", "filename", "assetData"]
    assert text.endswith("Content-Type: application/octet-stream\r\n\r\n")
    assert tail == f"\r\n--{boundary}--\r\n".encode()
    assert boundary.startswith("----async-uploader-") and len(boundary) == 19 + 32


def test_two_bodies_never_share_a_boundary() -> None:
    seen = {build_multipart([], "assetData", "a", "x/y")[0] for _ in range(1000)}
    assert len(seen) == 1000


def test_a_name_is_sent_as_it_is_but_for_what_breaks_the_header() -> None:
    _, head, _ = build_multipart(
        [], "assetData", 'Capture d’écran "a"\r\n\\.png', "application/octet-stream"
    )
    line = head.decode().splitlines()[1]
    assert line.endswith('filename="Capture d’écran %22a%22%0D%0A\\\\.png"')
