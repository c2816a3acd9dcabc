"""Keeps the local app's data (table items, bucket objects) in a folder across restarts.

moto keeps everything in memory, so the runtime snapshots what users create: every table's items and
every bucket's objects. Workflow execution history is not kept.
"""

import json
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import boto3

from happypath_local.stack import REGION, Stack

log = logging.getLogger("happypath.local")


class DataDirectory:
    def __init__(self, root: Path, stack: Stack) -> None:
        self.root = root
        self.tables = [stack.physical_ids[k] for k in stack.of_type("AWS::DynamoDB::Table")]
        self.buckets = [stack.physical_ids[k] for k in stack.of_type("AWS::S3::Bucket")]
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self._lock = threading.Lock()  # the periodic save and the one at stop

    def save(self) -> None:
        """Write a new snapshot beside the current one, then swap them: a stop at any moment leaves one whole."""
        with self._lock:
            self._save()

    def _save(self) -> None:
        snapshot = self.root / "snapshot.new"
        shutil.rmtree(snapshot, ignore_errors=True)
        for table in self.tables:
            items: list[dict[str, Any]] = []
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
                items += page["Items"]
            path = snapshot / "dynamodb" / f"{table}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(items))
        for bucket in self.buckets:
            for listing in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for entry in listing.get("Contents", []):
                    obj = self.s3.get_object(Bucket=bucket, Key=entry["Key"])
                    path = snapshot / "s3" / bucket / entry["Key"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(obj["Body"].read())
                    meta = {"ContentType": obj.get("ContentType"), "CacheControl": obj.get("CacheControl")}
                    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
        current, previous = self.root / "snapshot", self.root / "snapshot.old"
        shutil.rmtree(previous, ignore_errors=True)
        if current.exists():
            current.rename(previous)
        snapshot.rename(current)
        shutil.rmtree(previous, ignore_errors=True)

    def restore(self) -> int:
        """Load the last snapshot; bucket notifications are paused so old uploads are not processed again."""
        snapshot = self.root / "snapshot"
        if not snapshot.is_dir():  # stopped between the two renames of a save: the previous one is whole
            snapshot = self.root / "snapshot.old"
        if not snapshot.is_dir():
            return 0
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
                meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
                extra = {k: v for k, v in meta.items() if v}
                self.s3.put_object(Bucket=bucket, Key=str(path.relative_to(folder)), Body=path.read_bytes(), **extra)
                restored += 1
            self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)  # type: ignore[arg-type]
        log.info("restored %d items and objects from %s", restored, snapshot)
        return restored
