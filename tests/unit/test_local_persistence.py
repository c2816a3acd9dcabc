"""The local runtime's data folder: whole snapshots, written only when something changed, restored with the work
that was running, in a folder the runtime owns."""

import time
from pathlib import Path

import boto3
import pytest
from happypath_testkit.workflow import new_place, request_form, store_without_notification, wait_final

from happypath import keys
from happypath.repository import Repository
from happypath.statuses import UploadStatus
from happypath_local.persistence import DataDirectory, DataDirError, prepare


def test_a_stop_between_the_two_renames_of_a_save_restores_the_previous_snapshot(app, tmp_path, monkeypatch):
    data = DataDirectory(tmp_path, app.stack, app.seams)
    place = new_place()
    data.save()
    new_place()  # something to save again
    real_rename = Path.rename

    def stop_once_moved_aside(self: Path, target: Path) -> Path:
        moved = real_rename(self, target)
        if Path(target).name == "snapshot.old":
            raise KeyboardInterrupt  # Ctrl-C, or the machine going down, at the worst moment
        return moved

    monkeypatch.setattr(Path, "rename", stop_once_moved_aside)
    with pytest.raises(KeyboardInterrupt):
        data.save()
    monkeypatch.undo()
    assert not (tmp_path / "snapshot").exists()

    Repository().table.delete_item(Key=keys.place_key(place.placeId))
    assert data.restore() > 0
    assert Repository().get_place(place.placeId) is not None


def _wait_until_quiet(app, quiet_s: float = 1.0, timeout_s: float = 60) -> None:
    """The app is shared by the whole run: work an earlier test started (an upload whose event was still on its way
    to its workflow) may still be writing. Quiet: no asynchronous invocation queued, no execution running, and no
    write for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        app.wait_for_executions(0)
        writes = (app.seams.writes["s3"], app.seams.writes["dynamodb"])
        if writes == last and app.seams.queued_invocations == 0:
            return
        last = writes
        time.sleep(quiet_s)
    raise TimeoutError("the app kept writing")


def test_a_save_writes_only_what_changed(app, tmp_path):
    s3 = boto3.client("s3")
    bucket = app.physical("DistributionBucket")
    s3.put_object(Bucket=bucket, Key="photos/kept/tile.jpg", Body=b"kept")
    data = DataDirectory(tmp_path, app.stack, app.seams)
    _wait_until_quiet(app)  # nothing else is writing
    assert data.save()
    kept = tmp_path / "snapshot" / "s3" / bucket / "photos/kept/tile.jpg"
    table = next((tmp_path / "snapshot" / "dynamodb").iterdir())
    written = kept.stat().st_ino, table.stat().st_ino

    assert not data.save()  # nothing changed: nothing written
    assert (kept.stat().st_ino, table.stat().st_ino) == written

    s3.put_object(Bucket=bucket, Key="photos/new/tile.jpg", Body=b"new")
    assert data.save()
    assert kept.stat().st_ino == written[0]  # the unchanged object was not read and written again
    assert (kept.parent.parent / "new" / "tile.jpg").read_bytes() == b"new"

    place = new_place()  # a table write
    assert data.save()
    assert place.placeId in table.read_text()
    s3.put_object(Bucket=bucket, Key="photos/kept/tile.jpg", Body=b"changed")
    assert data.save()
    assert kept.read_bytes() == b"changed"


def test_an_object_deleted_while_a_save_lists_the_bucket_is_left_out(app, tmp_path, monkeypatch):
    s3 = boto3.client("s3")
    bucket = app.physical("DistributionBucket")
    s3.put_object(Bucket=bucket, Key="photos/gone/tile.jpg", Body=b"soon gone")
    data = DataDirectory(tmp_path, app.stack, app.seams)
    read = data.s3.get_object

    def deleted_before_it_is_read(**request):
        if request["Key"] == "photos/gone/tile.jpg":
            s3.delete_object(Bucket=bucket, Key=request["Key"])  # a photo deleted by its owner meanwhile
        return read(**request)

    monkeypatch.setattr(data.s3, "get_object", deleted_before_it_is_read)
    assert data.save()
    assert not (tmp_path / "snapshot" / "s3" / bucket / "photos/gone/tile.jpg").exists()


def test_uploads_unfinished_when_the_data_was_saved_are_processed_after_a_restore(app, detector, tmp_path, photos):
    """No execution survives a restart: a photo that arrived (PENDING_UPLOAD) or was being processed
    (PROCESSING) is sent through the workflow again when the data is restored."""
    place = new_place()
    photo = (photos / "jolla.jpg").read_bytes()
    bucket = app.physical("UploadBucket")
    arrived, claimed = (request_form(place.placeId, len(photo)) for _ in range(2))
    for form in (arrived, claimed):
        store_without_notification(bucket, form.fields["key"], photo)
    Repository().table.update_item(  # the workflow claimed it, then the runtime stopped
        Key=keys.upload_key(claimed.uploadId),
        UpdateExpression="SET #status = :processing",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":processing": UploadStatus.PROCESSING.value},
    )
    never_used = request_form(place.placeId, len(photo))
    data = DataDirectory(tmp_path, app.stack, app.seams)
    data.save()

    data.restore()
    for form in (arrived, claimed):
        assert wait_final(form.uploadId, timeout_s=60).status == UploadStatus.PROCESSED
    published = {p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]}
    assert published == {arrived.uploadId, claimed.uploadId}
    assert Repository().get_upload(never_used.uploadId).status == UploadStatus.PENDING_UPLOAD  # no photo: left


def test_fresh_deletes_only_what_the_runtime_wrote(tmp_path):
    data = tmp_path / "data"
    for name in ("snapshot/dynamodb", "snapshot.old/s3", "snapshot.new"):
        (data / name).mkdir(parents=True)
    (data / "issuer-key.pem").write_text("key")
    prepare(data, fresh=True).close()
    assert data.is_dir()
    assert [p.name for p in data.iterdir()] == ["in-use.lock"]


@pytest.mark.parametrize("fresh", [True, False])
def test_a_data_folder_holding_other_files_is_refused(tmp_path, fresh):
    (tmp_path / "snapshot").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "src").mkdir()
    with pytest.raises(DataDirError, match=r"holds files the local runtime did not write \(notes.txt, src\)"):
        prepare(tmp_path, fresh=fresh)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "snapshot").is_dir()  # nothing deleted


def test_a_new_or_empty_data_folder_is_used(tmp_path):
    prepare(tmp_path / "new" / "data", fresh=True).close()
    assert (tmp_path / "new" / "data").is_dir()
    prepare(tmp_path / "new" / "data", fresh=False).close()


def test_a_data_folder_another_runtime_uses_is_refused_and_fresh_deletes_nothing_of_it(tmp_path):
    """Two runtimes on one folder would each lose what the other saved; --fresh would delete the first's data."""
    (tmp_path / "snapshot" / "dynamodb").mkdir(parents=True)
    running = prepare(tmp_path, fresh=False)
    for fresh in (False, True):
        with pytest.raises(DataDirError, match="is in use by another local runtime: stop it first"):
            prepare(tmp_path, fresh=fresh)
    assert (tmp_path / "snapshot" / "dynamodb").is_dir()
    running.close()  # stopped: the folder is free again
    prepare(tmp_path, fresh=False).close()


def test_a_data_folder_that_cannot_be_written_is_refused_at_the_start(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError, match="file/data cannot be used: Not a directory"):
        prepare(tmp_path / "file" / "data", fresh=False)
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self.name == "snapshot.new":
            raise PermissionError(13, "Permission denied")
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)  # root ignores file modes: as a read-only folder answers
    with pytest.raises(DataDirError, match="cannot be used: Permission denied"):
        prepare(tmp_path / "data", fresh=False)


@pytest.mark.parametrize("damage", ["table", "meta"])
def test_a_damaged_snapshot_is_refused_in_words_naming_what_to_do(app, tmp_path, damage):
    data = DataDirectory(tmp_path, app.stack, app.seams)
    new_place()
    data.save()
    if damage == "table":
        next((tmp_path / "snapshot" / "dynamodb").glob("*.json")).write_text('[{"pk": ')
    else:
        (tmp_path / "snapshot" / "s3").mkdir(exist_ok=True)
        bucket = tmp_path / "snapshot" / "s3" / data.buckets[0]
        bucket.mkdir(exist_ok=True)
        (bucket / "orphan.jpg").write_bytes(b"x")  # its .meta.json is missing
    with pytest.raises(DataDirError, match=r"the data kept in .*snapshot cannot be read .* Start with --fresh"):
        data.restore()


def test_a_data_folder_on_a_file_system_without_locks_is_used_unlocked(tmp_path, monkeypatch, caplog):
    """Some network and VM shares refuse flock: the folder worked before it was locked, and still does."""
    from happypath_local import persistence

    def no_locks(*args: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(persistence.fcntl, "flock", no_locks)
    prepare(tmp_path, fresh=False).close()
    assert "cannot be locked" in caplog.text
