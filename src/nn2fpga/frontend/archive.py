"""Model containers read with bounds that hold whatever the file declares (hostile files, docs/reliability.md).

A `.keras` file is a zip and an `.h5` file is HDF5. Both are opened here, before anything in them is deserialized
and before TensorFlow is imported, and refused with one line naming the file and the member, dataset or limit:

- zip: the central directory is at most `MAX_DIRECTORY_BYTES` (it bounds what `zipfile` parses); the members
  are exactly those Keras 3 writes for the models nn2fpga converts (`MEMBERS`: no paths, no assets, which
  Keras would extract to disk), stored or deflated, not encrypted; their declared sizes total at most
  `MAX_MODEL_BYTES`, and none declares more than `MAX_RATIO` times its compressed size unless it is below
  `RATIO_FLOOR` (deflate's own limit is about 1032: a higher ratio is a bomb, and Keras stores members
  uncompressed, ratio 1);
- reads: a member is decompressed as a stream and at most its limit is read, whatever its header says
  (`config.json` `MAX_CONFIG_BYTES`, `metadata.json` `MAX_METADATA_BYTES`, the weights `MAX_MODEL_BYTES`); a
  member that decompresses to more than it declares fails zipfile's CRC check;
- JSON: at most `MAX_CONFIG_DEPTH` levels of nesting;
- HDF5 (the weights of a `.keras` file, a whole `.h5` file): at most `MAX_H5_OBJECTS` links; datasets of
  numbers stored in the file itself (no external links, external storage or virtual datasets); their declared
  bytes total at most `MAX_MODEL_BYTES`, and a dataset above `RATIO_FLOOR` declares at most `MAX_RATIO` times the
  bytes the file stores for it (an unwritten or compressed-zeros dataset is a bomb); attributes read (the
  `model_config`) at most `MAX_CONFIG_BYTES`. h5py reads metadata only (in place for a stored member, as Keras
  writes them): no dataset is read here.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from nn2fpga.ir.errors import ModelError

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MEMBERS = (CONFIG, METADATA, WEIGHTS)  # the members of a .keras file nn2fpga reads; config.json is required
MAX_MODEL_BYTES = 1 << 30  # 1 GiB: declared bytes of a .keras file's members, and of an HDF5 file's datasets
MAX_CONFIG_BYTES = 16 << 20  # 16 MiB: config.json / model_config (ResNet152's is 0.5 MiB)
MAX_METADATA_BYTES = 64 << 10
MAX_RATIO = 100  # declared / stored bytes of a zip member or an HDF5 dataset ...
RATIO_FLOOR = 1 << 20  # ... above 1 MiB declared
MAX_DIRECTORY_BYTES = 1 << 20  # a zip's central directory (a .keras file's is about 200 bytes)
MAX_CONFIG_DEPTH = 64  # nested JSON arrays and objects (a Keras config has about 10, 4 more per nested model)
MAX_H5_OBJECTS = 100_000  # links walked in an HDF5 file (ResNet152's weights have about 2,000)
_EOCD = b"PK\x05\x06"  # end of central directory record: size of the directory at offset 12, 4 bytes


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message as one line of at most `limit` characters (library errors span several)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- .keras (zip) -----------------------------------------------------------------------------------------


def keras_zip(path: Path) -> tuple[str, Any]:
    """(keras_version from metadata.json, or "3"; the parsed config.json) of a `.keras` file, checked."""
    _check_directory(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = _check_members(z, path)
            config = parse_json(read_member(z, CONFIG, MAX_CONFIG_BYTES, path), path, CONFIG)
            meta = parse_json(read_member(z, METADATA, MAX_METADATA_BYTES, path), path, METADATA)
            if WEIGHTS in names:
                _check_weights(z, path)
    except (OSError, EOFError, zipfile.BadZipFile) as e:  # zipfile on a damaged archive
        raise ModelError(f"{path}: not a valid .keras file ({one_line(e)})") from e
    version = meta.get("keras_version", "3") if isinstance(meta, dict) else "3"
    return str(version), config


def _check_weights(z: zipfile.ZipFile, path: Path) -> None:
    """The weights member's HDF5 structure: read in place if stored (as Keras writes it: h5py then reads only
    the metadata), else decompressed first (within MAX_MODEL_BYTES; a deflated stream cannot seek)."""
    where, info = f"{path}: {WEIGHTS}", z.getinfo(WEIGHTS)
    with open(path, "rb") as raw:
        if info.compress_type == zipfile.ZIP_STORED:
            raw.seek(info.header_offset)
            local = raw.read(30)  # the local header: name and extra field lengths at offsets 26 and 28
            start = (
                info.header_offset
                + 30
                + int.from_bytes(local[26:28], "little")
                + int.from_bytes(local[28:30], "little")
            )
            source: Any = _Slice(raw, start, info.file_size)
        else:
            source = io.BytesIO(read_member(z, WEIGHTS, MAX_MODEL_BYTES, path))
        with open_hdf5(source, where) as h5:
            check_hdf5(h5, where)


class _Slice(io.RawIOBase):
    """Bytes [start, start + size) of an open binary file as a read-only file (a stored zip member: zipfile's own
    seek reads from the member's start again each time it goes back)."""

    def __init__(self, f: Any, start: int, size: int) -> None:
        super().__init__()
        self.f, self.start, self.size, self.pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = max(offset + (0, self.pos, self.size)[whence], 0)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        self.f.seek(self.start + self.pos)
        data = self.f.read(max(min(len(buffer), self.size - self.pos), 0))
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _check_directory(path: Path) -> None:
    """Refuse a central directory above MAX_DIRECTORY_BYTES (zip64 included) before zipfile parses it."""
    with open(path, "rb") as f:
        f.seek(0, io.SEEK_END)
        f.seek(max(f.tell() - (1 << 16) - 22, 0))  # the record ends the file, after a comment of < 64 KiB
        tail = f.read()
    at = tail.rfind(_EOCD)
    if at >= 0 and len(tail) >= at + 16:
        size = int.from_bytes(tail[at + 12 : at + 16], "little")
        if size > MAX_DIRECTORY_BYTES:
            raise ModelError(f"{path}: the zip directory declares {size} bytes (at most {MAX_DIRECTORY_BYTES}; a "
                             f".keras file holds {', '.join(MEMBERS)})")  # fmt: skip


def _check_members(z: zipfile.ZipFile, path: Path) -> set[str]:
    """The member names, after checking names, methods and declared sizes (ModelError naming the member)."""
    allowed = f"a .keras file holds {', '.join(MEMBERS)} only"
    infos, total = z.infolist(), 0
    for info in infos:
        name = info.filename
        if name not in MEMBERS:
            parts = PurePosixPath(name).parts
            unsafe = name.startswith("/") or "\\" in name or ".." in parts or ":" in (parts[0] if parts else "")
            what = "a path that leaves the archive" if unsafe else "not a member nn2fpga reads"
            raise ModelError(f"{path}: member {name!r} is {what}; {allowed}")
        if info.flag_bits & 0x1:
            raise ModelError(f"{path}: member {name!r} is encrypted; {allowed}, unencrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelError(f"{path}: member {name!r} uses zip compression method {info.compress_type}; only stored "
                             "(Keras writes that) and deflated members are read")  # fmt: skip
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * info.compress_size:
            raise ModelError(f"{path}: member {name!r} declares {info.file_size} bytes from {info.compress_size} "
                             f"compressed, a ratio above {MAX_RATIO} (a decompression bomb); not read")  # fmt: skip
        total += info.file_size
    if total > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: the members declare {total} bytes in all (at most {MAX_MODEL_BYTES}); not read")
    names = {info.filename for info in infos}
    if len(names) != len(infos):
        raise ModelError(f"{path}: a member name appears twice; {allowed}, once each")
    if CONFIG not in names:
        raise ModelError(f"{path}: not a valid .keras file: no {CONFIG}; {allowed} (save models with model.save)")
    return names


def read_member(z: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """Member `name` decompressed as a stream, at most `limit` bytes whatever its header declares; an absent
    member (metadata.json) reads as b"{}"."""
    if name not in z.namelist():
        return b"{}"
    try:
        with z.open(name) as f:
            data = f.read(limit + 1)
    except (RuntimeError, NotImplementedError, ValueError) as e:  # encryption, methods, zlib errors
        raise ModelError(f"{path}: member {name!r} cannot be read ({one_line(e)})") from e
    if len(data) > limit:
        raise ModelError(f"{path}: member {name!r} holds more than {limit} bytes (at most {limit}); read no further")
    return data


def parse_json(data: bytes, path: Path, what: str) -> Any:
    """`data` parsed as JSON, at most MAX_CONFIG_DEPTH levels deep (ModelError naming `what` otherwise)."""
    try:
        value = json.loads(data)
    except RecursionError:
        value = None  # deeper than Python's parser goes: deeper than the bound too
        depth = math.inf
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, integers of more than 4300 digits
        raise ModelError(f"{path}: {what} is not valid JSON ({one_line(e)})") from e
    else:
        depth = _depth(value)
    if depth > MAX_CONFIG_DEPTH:
        raise ModelError(f"{path}: {what} nests arrays and objects more than {MAX_CONFIG_DEPTH} levels deep (a "
                         "Keras config has about 10, 4 more per nested model)")  # fmt: skip
    return value


def _depth(value: Any) -> int:
    """Nesting depth of JSON arrays and objects, without recursion; stops counting above MAX_CONFIG_DEPTH."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_CONFIG_DEPTH:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


# ---- HDF5 ------------------------------------------------------------------------------------------------


def h5_config(path: Path) -> tuple[str, Any]:
    """(keras_version, or "2"; the parsed model_config, or None) of a legacy `.h5` file, checked."""
    with open_hdf5(path, str(path)) as f:
        check_hdf5(f, str(path))
        version, raw = _attribute(f, "keras_version", 256, path), _attribute(f, "model_config", MAX_CONFIG_BYTES, path)
    return version or "2", None if raw is None else parse_json(raw, path, "model_config")


def open_hdf5(source: Any, where: str) -> Any:
    """h5py.File of `source` (a path or a file object) for reading; ModelError starting with `where` (the file,
    and the member) if h5py cannot open it."""
    import h5py

    try:
        return h5py.File(source, "r")
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # truncated or damaged files
        raise ModelError(f"{where}: not a readable HDF5 file ({one_line(e)})") from e


def check_hdf5(f: Any, where: str) -> None:
    """Walk every link of an open HDF5 file (metadata only) and refuse what the module docstring lists."""
    import h5py

    stack, links, total = [f], 0, 0
    try:
        while stack:
            group = stack.pop()
            for name in group:
                links += 1
                if links > MAX_H5_OBJECTS:
                    raise ModelError(f"{where}: more than {MAX_H5_OBJECTS} HDF5 objects; not read further")
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise ModelError(f"{where}: {group.name.rstrip('/')}/{name} links to another file; weights "
                                     "must be stored in the file")  # fmt: skip
                if isinstance(link, h5py.SoftLink):
                    continue  # it names an object in this file, checked where it is
                item = group[name]
                if isinstance(item, h5py.Group):
                    stack.append(item)
                elif isinstance(item, h5py.Dataset):
                    total += _dataset_bytes(item, where)
    except (OSError, KeyError, RuntimeError, TypeError) as e:  # damaged metadata (ValueError: ModelError passes)
        raise ModelError(f"{where}: a damaged HDF5 file ({one_line(e)})") from e
    if total > MAX_MODEL_BYTES:
        raise ModelError(f"{where}: the datasets declare {total} bytes in all (at most {MAX_MODEL_BYTES}); not read")


def _dataset_bytes(d: Any, where: str) -> int:
    """The bytes a dataset declares, after checking its type, its storage and its ratio."""
    where = f"{where}: dataset {d.name}"
    if d.dtype.kind not in "fiub":
        raise ModelError(f"{where} holds {d.dtype} values; weights are numbers")
    if d.is_virtual or d.external:
        raise ModelError(f"{where} stores its data outside the file; weights must be stored in the file")
    declared, stored = math.prod(d.shape or ()) * d.dtype.itemsize, d.id.get_storage_size()
    if declared > RATIO_FLOOR and declared > MAX_RATIO * stored:
        raise ModelError(f"{where} declares {declared} bytes from {stored} stored, a ratio above {MAX_RATIO} (a "
                         "decompression bomb); not read")  # fmt: skip
    return declared


def _attribute(obj: Any, name: str, limit: int, path: Path) -> str | None:
    """A string attribute, at most `limit` bytes stored (ModelError otherwise), or None if absent."""
    if name not in obj.attrs:
        return None
    size = obj.attrs.get_id(name).get_storage_size()
    if size > limit:
        raise ModelError(f"{path}: attribute {name!r} holds {size} bytes (at most {limit}); not read")
    value = obj.attrs[name]
    if not isinstance(value, (str, bytes)):
        raise ModelError(f"{path}: attribute {name!r} is a {type(value).__name__}, not a string")
    try:
        return value.decode() if isinstance(value, bytes) else value
    except UnicodeDecodeError as e:
        raise ModelError(f"{path}: attribute {name!r} is not UTF-8 text ({e})") from e
