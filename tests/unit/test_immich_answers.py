"""Reading the server's answers: each shape checked and turned into values (an id must be a
UUID: no trailing newline, no path), an error answer's message in one line, Retry-After in
both of its forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from async_uploader.immich import answers
from async_uploader.immich.answers import Wrong

ID = "0d9c5a1e-6a2b-4f7e-9a55-7a2f3c1b9e10"


@pytest.mark.parametrize(
    "value",
    [
        ID + "\n",  # "$" matches before a final newline; fullmatch does not
        "\n" + ID,
        ID + " ",
        ID + "/../x",
        ID.replace("-", ""),
        ID[:-1],
        None,
        12,
        ["x"],
        "",
    ],
)
def test_an_id_that_is_not_exactly_a_uuid_is_refused(value: object) -> None:
    assert not answers.is_uuid(value)
    with pytest.raises(Wrong, match="is not a UUID"):
        answers.uuid(value, "asset id")


def test_a_uuid_in_either_case_is_an_id() -> None:
    assert answers.uuid(ID.upper(), "album id") == ID.upper() and answers.is_uuid(ID)


def test_albums_and_their_wrong_shapes() -> None:
    album = answers.album(
        {"id": ID, "albumName": "Screens", "createdAt": "2024-01-01", "assetCount": 3}
    )
    assert (album.id, album.name, album.asset_count) == (ID, "Screens", 3)
    odd = answers.album({"id": ID, "albumName": "x", "createdAt": 5, "assetCount": "many"})
    assert (odd.created_at, odd.asset_count) == ("", 0)
    for count in (-5, 2**40, True, 1.5):  # no count an album has: verify would page forever
        assert answers.album({"id": ID, "albumName": "x", "assetCount": count}).asset_count == 0
    for bad, said in (
        ([], "expected an album as an object, got a list"),
        ({"id": ID}, "an album without a name"),
        ({"id": ID + "\n", "albumName": "x"}, "album id"),
    ):
        with pytest.raises(Wrong, match=said):
            answers.album(bad)
    with pytest.raises(Wrong, match="expected a list of albums, got an object"):
        answers.albums({"albums": []})


def test_the_bulk_check_answer_names_only_what_was_asked() -> None:
    data = {
        "results": [
            {"id": "0", "action": "reject", "reason": "duplicate", "assetId": ID},
            {"id": "1", "action": "accept"},
            {"id": "2", "action": "reject", "assetId": ID, "isTrashed": True},
        ]
    }
    assert answers.known(data, {"0", "1", "2"}) == {"0": (ID, False), "2": (ID, True)}
    with pytest.raises(Wrong, match="not about a file we asked about"):
        answers.known(data, {"0", "1"})
    with pytest.raises(Wrong, match="not a UUID"):
        answers.known({"results": [{"id": "0", "action": "reject", "assetId": ID + "\n"}]}, {"0"})


def test_album_links_and_pages() -> None:
    asked = {ID, "b" * 8}
    results = answers.link_results(
        [
            {"id": ID, "success": True},
            {"id": "b" * 8, "success": False, "error": "duplicate"},
        ],
        asked,
    )
    assert [(r.linked, r.error) for r in results] == [(True, None), (True, None)]
    failed = answers.link_results([{"id": ID, "success": False, "error": "not_found"}], asked)
    assert (failed[0].linked, failed[0].error) == (False, "not_found")
    with pytest.raises(Wrong, match="not about an asset we sent"):
        answers.link_results([{"id": "other", "success": True}], asked)
    page = {"assets": {"items": [{"id": ID}], "nextPage": "2"}}
    assert answers.album_page(page) == ([ID], 2)
    assert answers.album_page({"assets": {"items": [], "nextPage": None}}) == ([], None)
    for nxt in ("two", "99999999999", "-1", 3):
        with pytest.raises(Wrong, match="not a page number"):
            answers.album_page({"assets": {"items": [], "nextPage": nxt}})


def test_media_types_version_and_queues() -> None:
    types = answers.media_types({"image": [".PNG", ".jpg"], "video": [".mp4"], "sidecar": []})
    assert types.accepts(".png") and types.accepts(".MP4") and not types.accepts(".txt")
    with pytest.raises(Wrong, match="names no image or video types"):
        answers.media_types({"image": [], "video": []})
    with pytest.raises(Wrong, match="image is not a list of extensions"):
        answers.media_types({"image": ".png"})
    assert answers.version({"major": 3, "minor": 1, "patch": 0}) == (3, 1, 0)
    with pytest.raises(Wrong, match="major, minor and patch"):
        answers.version({"major": "three"})
    v3 = [{"name": "thumbnailGeneration", "isPaused": True}, {"name": "ocr", "isPaused": False}]
    assert answers.queues_v3(v3) == {"thumbnailGeneration": True, "ocr": False}
    v2 = {"metadataExtraction": {"queueStatus": {"isPaused": True, "isActive": False}}}
    assert answers.queues_v2(v2) == {"metadataExtraction": True}
    assert answers.QUEUE_NAME.fullmatch("smartSearch")
    assert not answers.QUEUE_NAME.fullmatch("../users") and not answers.QUEUE_NAME.fullmatch("a\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"message": "Invalid API key", "statusCode": 401}', "Invalid API key"),
        (b'{"message": ["a must be a UUID", "b is empty"]}', "a must be a UUID; b is empty"),
        (
            b'{"message": "Validation failed", "errors": [{"path": ["fileCreatedAt"], '
            b'"message": "Invalid input"}, {"path": [], "code": "custom"}]}',
            "fileCreatedAt: Invalid input; custom",
        ),
        (b"<html><title>502 Bad Gateway</title><h1>nginx</h1></html>", "502 Bad Gateway nginx"),
        (b"", "Bad Gateway"),
        (b"\xff\xfe", "\ufffd\ufffd"),
        (b'{"other": 1}', "Bad Gateway"),
    ],
)
def test_an_error_answer_is_one_readable_message(body: bytes, message: str) -> None:
    assert answers.error_message(body, "Bad Gateway") == message


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert answers.retry_after("3") == 3.0 and answers.retry_after("0.5") == 0.5
    assert answers.retry_after("-4") == 0.0 and answers.retry_after(None) is None
    assert answers.retry_after("soon") is None and answers.retry_after("") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (answers.retry_after(later) or 0) <= 31
    assert answers.retry_after("nan") == 0.0  # never a wait of "not a number"


def test_an_upload_answer_without_a_proper_id_has_none() -> None:
    assert answers.upload_answer(b'{"id": "%s", "status": "created"}' % ID.encode()) == (
        ID,
        "created",
    )
    assert answers.upload_answer(b'{"id": "%s\\n", "status": "created"}' % ID.encode()) == (
        None,
        "created",
    )
    assert answers.upload_answer(b"[]") == (None, None)
    assert answers.upload_answer(b"not json") == (None, None)
