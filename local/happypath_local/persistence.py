"""Keeps the local app's data (table items, bucket objects) in a folder across restarts.

moto keeps everything in memory, so the runtime snapshots what users create: every table's items and
every bucket's objects. Workflow execution history is not kept: work that was running when a snapshot was
taken is started again when it is restored (see `DataDirectory.restore`).
"""

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: the folder is not locked
    fcntl = None  # type: ignore[assignment]

import boto3
from botocore.exceptions import ClientError

from happypath_local.seams import Seams
from happypath_local.stack import REGION, Stack

log = logging.getLogger("happypath.local")
CURRENT, NEW, PREVIOUS = "snapshot", "snapshot.new", "snapshot.old"
ISSUER_KEY = "issuer-key.pem"
LOCK = "in-use.lock"  # held by the runtime using the folder, for as long as it runs
# All the runtime ever writes in its folder (the sign-in key is written beside itself, then renamed).
WRITTEN_HERE = frozenset({CURRENT, NEW, PREVIOUS, ISSUER_KEY, ISSUER_KEY + ".new", LOCK})


class DataDirError(Exception):
    """The data folder cannot be used (it holds files the runtime did not write)."""


def prepare(root: Path, fresh: bool) -> IO[bytes]:
    """Make `root` the runtime's data folder; `fresh` deletes what earlier runs wrote there, nothing else.
    Returns the folder's lock, held until it is closed (or the process ends).

    A folder holding anything else is refused: `--data-dir .` must never lead to deleting someone's files. So
    is one another runtime is using: it would lose what this one saved, or the reverse, and `--fresh` would
    delete its data from under it.
    """
    if root.exists() and not root.is_dir():
        raise DataDirError(f"--data-dir {root} is a file, not a folder")
    foreign = sorted(p.name for p in root.iterdir() if p.name not in WRITTEN_HERE) if root.is_dir() else []
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DataDirError(
            f"--data-dir {root} holds files the local runtime did not write ({shown}): "
            "use an empty or new folder (the default is .local-data/)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = _lock(root)
        if fresh:
            for name in WRITTEN_HERE - {LOCK}:
                path = root / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
        _check_writable(root)
    except OSError as error:
        raise DataDirError(f"--data-dir {root} cannot be used: {error.strerror or error}") from None
    return lock


def _lock(root: Path) -> IO[bytes]:
    lock = (root / LOCK).open("ab")
    if fcntl is not None:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise DataDirError(
                f"--data-dir {root} is in use by another local runtime: stop it first, or give this one another "
                "--data-dir"
            ) from None
        except OSError as error:  # a file system without locks (some network and VM shares): used unlocked
            log.warning("the data folder %s cannot be locked (%s): do not start a second runtime on it", root, error)
    return lock


def _check_writable(root: Path) -> None:
    """Found now, not at the first save (every one would fail, and the data be lost at Ctrl-C)."""
    probe = root / NEW
    probe.mkdir(exist_ok=True)
    shutil.rmtree(probe)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _link(source: Path, target: Path) -> None:
    """Put an unchanged file in the new snapshot without writing its bytes again (snapshots are never
    written to once swapped in, so sharing the file is safe)."""
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


class DataDirectory:
    def __init__(self, root: Path, stack: Stack, seams: Seams) -> None:
        self.root = root
        self.seams = seams
        self.tables = [stack.physical_ids[k] for k in stack.of_type("AWS::DynamoDB::Table")]
        self.buckets = [stack.physical_ids[k] for k in stack.of_type("AWS::S3::Bucket")]
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self._lock = threading.Lock()  # the periodic save and the one at stop
        self._saved: tuple[int, int] | None = None  # the DynamoDB and S3 write counts the current snapshot holds

    def _changes(self) -> tuple[int, int]:
        return self.seams.writes["dynamodb"], self.seams.writes["s3"]

    def _listing(self, bucket: str) -> Iterator[tuple[str, str, int]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                yield entry["Key"], entry["ETag"], entry["Size"]

    def save(self) -> bool:
        """Write a new snapshot beside the current one, then swap them: a stop at any moment leaves one whole.

        Nothing is written when nothing changed since the last snapshot, and unchanged objects are linked
        from it, not read and written again. Returns whether a snapshot was written.
        """
        with self._lock:
            if self._changes() == self._saved:
                return False
            self._saved = None  # should this save fail, the next one is not skipped
            self._saved = self._save()
            return True

    def _save(self) -> tuple[int, int]:
        snapshot, current, previous = self.root / NEW, self.root / CURRENT, self.root / PREVIOUS
        shutil.rmtree(snapshot, ignore_errors=True)
        s3_writes = self.seams.writes["s3"]  # before listing: a write finishing later is for the next save
        # Tables before buckets: an object written meanwhile (a rendition) is kept with its upload still
        # PROCESSING, which restore() starts again; the other order could keep a PROCESSED upload without it.
        # The DynamoDB lock holds every other call back while the tables are read: they are read whole.
        with self.seams.service_lock("dynamodb"):
            dynamodb_writes = self.seams.writes["dynamodb"]
            for table in self.tables:
                items: list[dict[str, Any]] = []
                for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
                    items += page["Items"]
                path = snapshot / "dynamodb" / f"{table}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(items))
        for bucket in self.buckets:
            for key, etag, size in self._listing(bucket):
                path, before = snapshot / "s3" / bucket / key, current / "s3" / bucket / key
                path.parent.mkdir(parents=True, exist_ok=True)
                if self._unchanged(before, etag, size):
                    _link(before, path)
                    _link(_meta_path(before), _meta_path(path))
                    continue
                try:
                    obj = self.s3.get_object(Bucket=bucket, Key=key)
                except ClientError as error:
                    if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                        continue  # deleted since it was listed
                    raise
                path.write_bytes(obj["Body"].read())
                meta = {
                    "ContentType": obj.get("ContentType"),
                    "CacheControl": obj.get("CacheControl"),
                    "ETag": obj["ETag"],
                    "Size": obj["ContentLength"],
                }
                _meta_path(path).write_text(json.dumps(meta))
        shutil.rmtree(previous, ignore_errors=True)
        if current.exists():
            current.rename(previous)
        snapshot.rename(current)
        shutil.rmtree(previous, ignore_errors=True)
        return dynamodb_writes, s3_writes

    @staticmethod
    def _unchanged(path: Path, etag: str, size: int) -> bool:
        """The copy in the current snapshot is this object (same ETag and size)."""
        try:
            meta = json.loads(_meta_path(path).read_text())
        except (OSError, ValueError):
            return False
        return bool(meta.get("ETag") == etag and meta.get("Size") == size and path.is_file())

    def restore(self) -> int:
        """Load the last snapshot, then start again the work that was running when it was taken.

        Bucket notifications are paused while objects are put back, so finished uploads are not processed again.
        A snapshot that cannot be read (a file damaged or edited by hand) is refused in words, not half loaded.
        """
        snapshot = self.root / CURRENT
        if not snapshot.is_dir():  # stopped between the two renames of a save: the previous one is whole
            snapshot = self.root / PREVIOUS
        if not snapshot.is_dir():
            return 0
        try:
            restored = self._load(snapshot)
        except (OSError, ValueError, KeyError, TypeError, ClientError) as error:
            raise DataDirError(
                f"the data kept in {snapshot} cannot be read ({type(error).__name__}: {error}). Start with --fresh "
                f"to begin again without it (it deletes it), or move {self.root} away to keep it"
            ) from None
        log.info("restored %d items and objects from %s", restored, snapshot)
        if snapshot.name == CURRENT:
            self._saved = self._changes()  # what is on disk: the first save after a restart has nothing to do
        self._redrive()
        return restored

    def _load(self, snapshot: Path) -> int:
        restored = 0
        for table in self.tables:
            path = snapshot / "dynamodb" / f"{table}.json"
            for item in json.loads(path.read_text()) if path.exists() else []:
                self.dynamodb.put_item(TableName=table, Item=item)
                restored += 1
        for bucket in self.buckets:
            folder = snapshot / "s3" / bucket
            if not folder.is_dir():
                continue
            notifications: dict[str, Any] = dict(self.s3.get_bucket_notification_configuration(Bucket=bucket))
            notifications.pop("ResponseMetadata", None)
            self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
            for path in folder.rglob("*"):
                if path.is_dir() or path.name.endswith(".meta.json"):
                    continue
                meta = json.loads(_meta_path(path).read_text())
                extra = {k: meta[k] for k in ("ContentType", "CacheControl") if meta.get(k)}
                self.s3.put_object(Bucket=bucket, Key=str(path.relative_to(folder)), Body=path.read_bytes(), **extra)
                restored += 1
            self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)  # type: ignore[arg-type]
        return restored

    def _redrive(self) -> None:
        """Uploads whose photo arrived but which never reached a final state: no execution survives a restart,
        so send their S3 notification again. The workflow claims only PENDING_UPLOAD uploads (a replayed event
        must not process one twice), so a PROCESSING upload, whose execution is gone, is put back first."""
        from happypath import keys
        from happypath.statuses import UploadStatus

        pending, processing = UploadStatus.PENDING_UPLOAD.value, UploadStatus.PROCESSING.value
        stored = {bucket: {key for key, _, _ in self._listing(bucket)} for bucket in self.buckets}
        redriven = 0
        for table in self.tables:
            pages = self.dynamodb.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="#sk = :upload AND #status IN (:pending, :processing)",
                ExpressionAttributeNames={"#sk": keys.SK, "#status": "status"},
                ExpressionAttributeValues={
                    ":upload": {"S": keys.UPLOAD_SK},
                    ":pending": {"S": pending},
                    ":processing": {"S": processing},
                },
            )
            for item in (item for page in pages for item in page["Items"]):
                bucket = next((b for b, objects in stored.items() if item["objectKey"]["S"] in objects), None)
                if bucket is None:
                    continue  # no photo yet: the form may still be used, or the sweeper expires it
                if item["status"]["S"] == processing:
                    expires = int(item["expiresAt"]["N"])
                    upload_id = item["uploadId"]["S"]
                    self.dynamodb.update_item(
                        TableName=table,
                        Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]},
                        # As the API created it: pending, under its form's expiry for the sweeper.
                        UpdateExpression="SET #status = :pending, #gsi2pk = :partition, #gsi2sk = :sort "
                        "REMOVE executionId",
                        ConditionExpression="#status = :processing",
                        ExpressionAttributeNames={
                            "#status": "status",
                            "#gsi2pk": keys.EXPIRY_PK,
                            "#gsi2sk": keys.EXPIRY_SK,
                        },
                        ExpressionAttributeValues={
                            ":pending": {"S": pending},
                            ":processing": {"S": processing},
                            ":partition": {"S": keys.expiry_partition(expires)},
                            ":sort": {"S": keys.expiry_sort_key(expires, upload_id)},
                        },
                    )
                self.seams.notify_object_created(bucket, item["objectKey"]["S"])
                redriven += 1
        if redriven:
            log.info("started again %d uploads that were unfinished when the data was saved", redriven)
