#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/). Rerun after a change
to the log record format (docs/log-format.md) or to a target's input layout."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def align8(n: int) -> int:
    return (n + 7) & ~7


def record(rtype: int, flags: int, position: int, write_start: int, body: bytes) -> bytes:
    """A framed log record: 32-byte header, body, zero padding to 8, 8-byte trailer."""
    rest = struct.pack("<IIBBHQQ", crc32c(body), len(body), rtype, flags, 0, position, write_start)
    header_crc = crc32c(rest)
    padded = body + b"\0" * (align8(len(body)) - len(body))
    total = 32 + len(padded) + 8
    return struct.pack("<I", header_crc) + rest + padded + struct.pack("<II", total, header_crc)


def event_body(revision: int, stream: bytes, etype: bytes, content_type: bytes, data: bytes,
               metadata: bytes = b"") -> bytes:
    uid = bytes(range(16))
    fixed = struct.pack("<QQ", revision, 16_000_000_000_000_000) + uid + struct.pack(
        "<HHHHII", len(stream), len(etype), len(content_type), 0, len(data), len(metadata))
    return fixed + stream + etype + content_type + data + metadata


def write(target: str, name: str, data: bytes) -> None:
    path = os.path.join(HERE, "corpus", target, name)
    with open(path, "wb") as f:
        f.write(data)


def record_seeds() -> None:
    t = "record_decoder_fuzz"
    pos = 64  # the first record of segment 0
    e0 = record(1, 1, pos, pos, event_body(0, b"order-1", b"Placed", b"application/json",
                                           b'{"total":3}', b'{"user":"ann"}'))
    e1 = record(1, 0, pos + len(e0), pos + len(e0),
                event_body(1, b"order-1", b"Paid", b"application/octet-stream", b"\x00\x01"))
    e2 = record(1, 1, pos + len(e0) + len(e1), pos + len(e0),
                event_body(0, b"invoice-9", b"Sent", b"application/json", b"[]"))
    end = record(2, 0, pos + len(e0) + len(e1) + len(e2), pos + len(e0) + len(e1), b"")
    p = struct.pack("<Q", pos)
    write(t, "one_event", b"\x00" + p + e0)
    write(t, "one_event_fixup", b"\x01" + p + e0)
    write(t, "wrong_position", b"\x00" + struct.pack("<Q", 4096) + e0)
    write(t, "segment_end", b"\x00" + struct.pack("<Q", pos) + record(2, 0, pos, pos, b""))
    write(t, "scan_three_events", b"\x02" + p + e0 + e1 + e2)
    write(t, "scan_fixup_with_end", b"\x03" + p + e0 + e1 + e2 + end)
    write(t, "scan_half_limit", bytes([2 | (32 << 2)]) + p + e0 + e1 + e2)
    write(t, "scan_torn_tail", b"\x02" + p + e0 + e1[: len(e1) // 2])
    flipped = bytearray(e0 + e1)
    flipped[len(e0) + 40] ^= 0x5A
    write(t, "scan_damaged_body", b"\x02" + p + bytes(flipped))
    write(t, "all_zero", b"\x02" + p + b"\0" * 64)


def cli_seeds() -> None:
    t = "cli_input_fuzz"
    sep = b"\x1f"

    def fields(*fs: bytes) -> bytes:
        return sep.join(fs)

    uid = b"0b1f5a3c-8c9e-4c1e-9a62-3f4d5e6f7a81"
    write(t, "append_json", fields(b"any", uid, b"order-1", b"Placed", b"application/json",
                                   b'{"total":3,"items":[1,2.5e3,"x"]}', b'{"user":"ann"}',
                                   b"start", b"10"))
    write(t, "append_exact", fields(b"42", b"0B1F5A3C-8C9E-4C1E-9A62-3F4D5E6F7A81", b"s",
                                    b"T", b"", b"null", b"", b"end", b"1"))
    write(t, "append_binary", fields(b"no_stream", b"", b"blob-1", b"Blob",
                                     b"application/octet-stream", b"\x00\xff\xfe", b"", b"7",
                                     b"18446744073709551615"))
    write(t, "invalid_everything", fields(b"-1", b"not-a-uuid", b"$sys", b"$T", b"bad\ttype",
                                          b'{"a":', b"[1,", b"x", b"0"))
    write(t, "stream_exists_nil", fields(b"stream_exists", b"00000000-0000-0000-0000-000000000000",
                                         b"a\x01b", b"T", b"", b'"\\ud800"', b"{}", b"", b""))
    write(t, "metadata_full", b'{"$maxCount":100,"$maxAge":3600,"$tb":7,"$cacheControl":60,'
                              b'"$acl":{"$r":"$all","$w":["ann"]},"owner":"billing","n":null}')
    write(t, "metadata_field", fields(b"any", b"", b"s", b"T", b"", b"1e400",
                                      b'{"$tb":null,"custom":{"deep":[[[]]]}}', b"", b""))
    write(t, "metadata_bad", b'{"$maxCount":-1,"$maxCount":2}')


if __name__ == "__main__":
    record_seeds()
    cli_seeds()
