#!/usr/bin/env python3
"""Single-piece documents for the long-piece encoding benchmark (deterministic, seed 17).

Each OUT_DIR/NAME.jsonl holds one document {"id": NAME, "text": ...}; under the GLM-4 pattern
each is one piece (one pre-token) except `b64`, real base64 whose digits and `+/` cut it into
short pieces (the control: many pieces instead of one).
  acgt-100k, acgt-400k, acgt-10m  random a/c/g/t letters (DNA)
  letters-10m                     random A-Z a-z (a base64-like blob without digits or +/)
  b64-10m                         random base64 characters
  spaces-1m, spaces-10m           spaces, then one letter (the run is one piece minus its last space)
  cjk-10m                         random common CJK characters (3 bytes each)
Usage: python3 scripts/bpe/long_piece_data.py OUT_DIR
"""
import json
import os
import random
import string
import sys

CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(17)
    docs = {
        "acgt-100k": lambda: "".join(rng.choices("acgt", k=100_000)),
        "acgt-400k": lambda: "".join(rng.choices("acgt", k=400_000)),
        "acgt-10m": lambda: "".join(rng.choices("acgt", k=10_000_000)),
        "letters-10m": lambda: "".join(rng.choices(string.ascii_letters, k=10_000_000)),
        "b64-10m": lambda: "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=10_000_000)),
        "spaces-1m": lambda: " " * 1_000_000 + "x",
        "spaces-10m": lambda: " " * 10_000_000 + "x",
        "cjk-10m": lambda: "".join(rng.choices(CJK, k=10_000_000 // 3)),
    }
    for name, make in docs.items():
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            f.write(json.dumps({"id": name, "text": make()}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
