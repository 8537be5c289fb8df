"""`tagloop export`: GET /export from a running tagloop and write the file or VOC folder."""

import io
import json
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from pydantic import SecretStr

from tagloop.errors import TagloopError

TIMEOUT_S = 300


class ExportFailedError(TagloopError):
    """The training API did not give the export (not running, refused, nothing to export)."""


def download_export(*, url: str, fmt: str, out: Path, session: int | None, token: SecretStr | None) -> Path:
    """Write the export to `out` (a VOC export becomes the folder `out`); returns what was written."""
    query = {"format": fmt, **({"session": str(session)} if session else {})}
    request = urllib.request.Request(f"{url.rstrip('/')}/export?{urllib.parse.urlencode(query)}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token.get_secret_value()}")
    body = _fetch(request)
    if fmt != "voc":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        return out
    return _unzip_voc(body, out)


def _fetch(request: urllib.request.Request) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            return reply.read()
    except urllib.error.HTTPError as exc:
        raise ExportFailedError(f"the export was refused: {_error_text(exc.read())}") from exc
    except urllib.error.URLError as exc:
        raise ExportFailedError(
            f"{request.full_url} is not answering ({exc.reason}); is tagloop running?"
        ) from exc


def _error_text(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode(errors="replace")


def _unzip_voc(body: bytes, out: Path) -> Path:
    """The zip holds one top folder; its content goes into `out`."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        for member in archive.infolist():
            parts = Path(member.filename).parts[1:]
            if member.is_dir() or not parts or ".." in parts:
                continue
            target = out.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
    return out
