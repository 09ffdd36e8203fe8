"""Which encoding a text file is in, as spreadsheets save them: Excel's "CSV UTF-8" (a
byte-order mark), "Unicode text" (UTF-16 with a BOM), plain UTF-8, and the Chinese
Windows default GB18030/GBK, whatever the connector declares.

A byte-order mark settles it. Without one, valid UTF-8 is taken as UTF-8 (Chinese GB18030
text is practically never valid UTF-8, whereas UTF-8 often decodes as GB18030 nonsense),
then the declared encoding, then GB18030. The candidates are tried strictly, so a file
none of them reads is refused whole rather than guessed at (a statistical detector such
as charset-normalizer always names *some* encoding, and a wrong guess lands mojibake).
"""
from __future__ import annotations

import codecs

BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class Undecodable(ValueError):
    """No candidate encoding reads the bytes; ``reason`` says which were tried and where they failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _name(enc: str) -> str:
    return codecs.lookup(enc).name


def decode_text(data: bytes, declared: str) -> tuple[str, str]:
    """(text, the encoding it was read in); raises ``Undecodable``."""
    for bom, enc in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as e:
                raise Undecodable(f"file starts with a {enc} byte-order mark but byte {e.start} "
                                  f"is not valid {enc}") from None
    failures = []
    for enc in dict.fromkeys(map(_name, ("utf-8", declared, "gb18030"))):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as e:
            failures.append(f"{enc} at byte {e.start}")
    raise Undecodable(f"file is declared {declared} but is not valid {', nor '.join(failures)}")
