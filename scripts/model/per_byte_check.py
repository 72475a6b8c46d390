"""Per-token and per-byte AUC of a model on the reference evaluation set and on a second set.

The per-byte score of a document is glmkit.nll * glmkit.tokens / UTF-8 bytes of its text (nats
per byte). Set A is fixtures/reference-eval. Set B was defined before it was first scored, to
check a per-byte result found on set A on text set A does not hold:
  - for every document of set A (same ids), the 256 bytes after its first 256 bytes
    (character-aligned), when that slice has at least 64 bytes;
  - the first 256 bytes of every noisy document of the corpus that set A does not hold.
AUC as in tests/reference_model.rs: noisy above clean, ties half; "overall" is every defect but
repeated-lines and boilerplate; per language, clean documents of that language (10+) against
all those noisy documents.

Run: python scripts/model/per_byte_check.py CORPUS_DIR [--glmkit target/release/glmkit]
     [--model builtin]
Needs zstandard (as make_reference_eval.py, whose reader and cut it uses).
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import tempfile

from make_reference_eval import MAX_BYTES, cut, read

REPETITION = ("repeated-lines", "boilerplate")
MIN_BYTES = 64  # a second slice shorter than this is left out


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def second_slice(text):
    """The MAX_BYTES after the first MAX_BYTES, both ends at character boundaries."""
    data = text.encode("utf-8")
    start = MAX_BYTES
    while start < len(data) and (data[start] & 0xC0) == 0x80:
        start += 1
    return cut(data[start:].decode("utf-8"))


def set_b_text(doc, in_a):
    """What set B holds of a corpus document, or None."""
    if doc["id"] in in_a:
        text = second_slice(doc["text"])
        return text if len(text.encode()) >= MIN_BYTES else None
    return cut(doc["text"]) if "defect" in doc else None


def make_set_b(corpus, set_a, out):
    os.makedirs(out, exist_ok=True)
    in_a = {d["id"] for d in set_a}
    for name, label in (("clean", "lang"), ("noisy", "defect")):
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for d in read(os.path.join(corpus, f"{name}.jsonl.zst")):
                text = set_b_text(d, in_a)
                if text is not None:
                    rec = {"id": d["id"], label: d[label], "text": text}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def auc(noisy, clean):
    wins = sum((x > y) + 0.5 * (x == y) for x in noisy for y in clean)
    return wins / (len(noisy) * len(clean))


def report(name, records):
    measures = {
        "per token (ppl)": lambda r: r["glmkit"]["ppl"],
        "per byte": lambda r: r["glmkit"]["nll"] * r["glmkit"]["tokens"] / len(r["text"].encode()),
    }
    for measure, score in measures.items():
        clean, noisy = collections.defaultdict(list), collections.defaultdict(list)
        for r in records:
            (noisy[r["defect"]] if r.get("defect") else clean[r["lang"]]).append(score(r))
        every_clean = [v for vs in clean.values() for v in vs]
        other = [v for d, vs in noisy.items() if d not in REPETITION for v in vs]
        print(f"{name}, {measure}: overall {auc(other, every_clean):.3f} "
              f"({len(other)} noisy, {len(every_clean)} clean)")
        print("   ", " ".join(f"{d} {auc(vs, every_clean):.3f}" for d, vs in sorted(noisy.items())))
        print("   ", " ".join(f"{lang} {auc(other, vs):.3f}"
                             for lang, vs in sorted(clean.items()) if len(vs) >= 10))


def score(glmkit, model, inputs, out):
    subprocess.run([glmkit, "score", *inputs, "--model", model, "--output", out,
                    "--format", "jsonl", "--quiet"], check=True)
    return [r for f in sorted(glob.glob(os.path.join(out, "kept", "*"))) for r in read_jsonl(f)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--glmkit", default="target/release/glmkit")
    parser.add_argument("--model", default="builtin")
    args = parser.parse_args()
    fixtures = "fixtures/reference-eval"
    set_a = read_jsonl(f"{fixtures}/clean.jsonl") + read_jsonl(f"{fixtures}/noisy.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        inputs_a = [f"{fixtures}/clean.jsonl", f"{fixtures}/noisy.jsonl"]
        report("set A", score(args.glmkit, args.model, inputs_a, os.path.join(tmp, "a")))
        make_set_b(args.corpus, set_a, os.path.join(tmp, "b-in"))
        inputs_b = [os.path.join(tmp, "b-in", n) for n in ("clean.jsonl", "noisy.jsonl")]
        report("set B", score(args.glmkit, args.model, inputs_b, os.path.join(tmp, "b")))


if __name__ == "__main__":
    main()
