"""Where the store keeps its photo files: the data folder (the default) or an S3-compatible bucket,
chosen by one URL setting (``SLOPE_OBJECT_STORE``), so app processes on several machines can share
the photos as they share a PostgreSQL database. The bucket also holds the photos of queued surveys
(``staged/``) and every model version put on record (``models/<kind>/<version>/``): a version
trained on one machine is fetched and served on the others.

Keys are the content-addressed paths the database records (``images/ab/<sha256>.jpg``): the same
bytes always get the same key, and a key's bytes never change, so a local copy of an object never
goes stale. Readers that need a file (the models, the review editor, exports, training) ask for
``path(key)``: the file itself in the data folder, or a copy fetched once into
``<data folder>/object-cache`` from the bucket.

    SLOPE_OBJECT_STORE=s3://BUCKET[/PREFIX]?endpoint_url=http://127.0.0.1:8333

The bucket must exist; credentials come from the usual ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` variables (boto3's chain). An object is written whole or not at all (S3
has no half-written objects); a local file is written to a temporary name and renamed.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

CACHE = "object-cache"  # under the data folder: local copies of the bucket's objects


class Blobs(Protocol):
    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key``; False when the key was there already (nothing written)."""

    def delete(self, key: str) -> None: ...

    def path(self, key: str) -> Path:
        """A local file holding the key's bytes."""

    def read(self, key: str) -> bytes:
        """The key's bytes, kept in no local copy (what is read once: a queued photo)."""

    def clear(self, prefix: str) -> None:
        """Every key under ``prefix`` gone."""

    def put_folder(self, key: str, folder: Path) -> None:
        """A model folder's files under ``key`` (where other machines fetch it from)."""

    def folder(self, key: str) -> Path | None:
        """A local folder holding the files under ``key``; None when there are none."""


def model_key(kind: str, version: str) -> str:
    """Where a model version's folder is kept in the object store."""
    return f"models/{kind}/{version}"


def write_atomically(target: Path, data: bytes) -> None:
    """``data`` into ``target`` through a temporary name: a crash never leaves half a file, and a
    failed write (a full disk) leaves no temporary file either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class LocalBlobs:
    """Files under a folder (the data folder)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> bool:
        target = self.root / key
        if target.exists():
            return False
        write_atomically(target, data)
        return True

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def clear(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    # One machine: a model folder is on its disk where it was published, nothing to share.
    def put_folder(self, key: str, folder: Path) -> None:
        pass

    def folder(self, key: str) -> Path | None:
        return None


class S3Blobs:
    """Objects in an S3-compatible bucket, with local copies in ``cache``."""

    def __init__(self, url: str, cache: str | Path) -> None:
        import boto3

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"an object store URL reads s3://BUCKET[/PREFIX][?endpoint_url=URL], got {url!r}")
        endpoint = parse_qs(parts.query).get("endpoint_url", [None])[0]
        self.bucket, self.prefix, self.cache = parts.netloc, parts.path.strip("/"), Path(cache)
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")  # S3-compatible servers take any
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=region)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, key: str, data: bytes) -> bool:
        if self._exists(key):
            return False
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        (self.cache / key).unlink(missing_ok=True)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def path(self, key: str) -> Path:
        local = self.cache / key
        if not local.is_file():  # a key's bytes never change: a copy once fetched stays right
            body = self.read(key)
            write_atomically(local, body)
        return local

    def put_folder(self, key: str, folder: Path) -> None:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            self.client.upload_file(str(path), self.bucket, self._key(f"{key}/{path.relative_to(folder).as_posix()}"))

    def folder(self, key: str) -> Path | None:
        local, done = self.cache / key, self.cache / key / ".complete"
        if done.is_file():  # a version's files never change: fetched once, complete
            return local
        keys = [item["Key"] for page in self._pages(f"{key}/") for item in page.get("Contents", [])]
        if not keys:
            return None
        for name in keys:
            target = local / name[len(self._key(key)) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, name, str(target))
        done.touch()
        return local

    def _pages(self, prefix: str):
        return self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))

    def clear(self, prefix: str) -> None:
        pages = self._pages(prefix)
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        shutil.rmtree(self.cache / prefix, ignore_errors=True)


def blobs_for(data_dir: str | Path | None = None) -> Blobs:
    """The files of the store whose data folder is ``data_dir`` (None: this process's,
    ``SLOPE_DATA_DIR``): the folder itself, or the bucket ``SLOPE_OBJECT_STORE`` names (read from
    the environment, like every setting)."""
    from core.settings import Settings

    settings = Settings.from_env()
    return _blobs(settings.object_store, str(Path(settings.data_dir if data_dir is None else data_dir).resolve()))


@functools.lru_cache(maxsize=8)
def _blobs(url: str, data_dir: str) -> Blobs:
    # One client per bucket and folder: making a boto3 client costs tens of milliseconds.
    return S3Blobs(url, Path(data_dir) / CACHE) if url else LocalBlobs(data_dir)
