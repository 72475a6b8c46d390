"""Writes data/filter/common_han.txt: the Han characters of three national "common character"
sets, the characters clean Chinese and Japanese text is made of.

- GB 2312 level 1 (3,755 most common Simplified characters; bytes B0A1-D7F9),
- Big5 level 1 (5,401 common Traditional characters, "常用國字"; bytes A440-C67E),
- JIS X 0208 level 1 (2,965 common Japanese kanji; Shift_JIS 889F-9872).

Mojibake made of Han characters (UTF-8 decoded as GBK or Shift_JIS) lands mostly outside them.
Usage: python common_han.py > data/filter/common_han.txt
"""

import sys


def decode_range(codec, leads, trails):
    out = set()
    for lead in leads:
        for trail in trails:
            try:
                ch = bytes([lead, trail]).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(ch) == 1 and 0x3400 <= ord(ch) <= 0x9FFF:
                out.add(ch)
    return out


gb = decode_range("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF))
big5 = {c for c in decode_range("big5", range(0xA4, 0xC7), list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF)))}
# Big5 level 1 ends at C67E.
big5 = {c for c in big5 if c.encode("big5") <= b"\xc6\x7e"}
jis = set()
for lead in range(0x88, 0x99):
    for trail in list(range(0x40, 0x7F)) + list(range(0x80, 0xFD)):
        code = bytes([lead, trail])
        if code < b"\x88\x9f" or code > b"\x98\x72":
            continue
        try:
            ch = code.decode("shift_jis")
        except UnicodeDecodeError:
            continue
        if len(ch) == 1 and 0x4E00 <= ord(ch) <= 0x9FFF:
            jis.add(ch)
print(f"GB2312-1 {len(gb)}, Big5-1 {len(big5)}, JIS-1 {len(jis)}", file=sys.stderr)
chars = sorted(gb | big5 | jis)
print(f"union {len(chars)}", file=sys.stderr)
for i in range(0, len(chars), 64):
    print("".join(chars[i : i + 64]))
