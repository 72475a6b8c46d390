"""Tables for docs/BENCHMARKS.md from peers.py output and glmkit's filter_eval output.

Usage: python report.py PEERS.jsonl GLMKIT.jsonl [--split dev|heldout|all] [--rules a,b,c]
Both files list the same documents in the same order (clean.jsonl.zst, then noisy.jsonl.zst).
"""

import argparse
import collections
import json

GLM_RULES = ["encoding", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
DT_RULES = ["gopher_quality", "gopher_repetition", "c4", "fineweb"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peers")
    ap.add_argument("glmkit")
    ap.add_argument("--split", default="all")
    ap.add_argument("--rules", default=",".join(GLM_RULES))
    ap.add_argument("--show", type=int, default=0, help="print up to N misclassified documents per language")
    ap.add_argument("--markdown", action="store_true", help="print the tables of docs/BENCHMARKS.md")
    ap.add_argument("--whatlang", help="filter_eval --whatlang-only output, for a whatlang-alone column")
    args = ap.parse_args()
    rules = args.rules.split(",")
    if args.markdown:
        return markdown(args, rules)
    peers = [json.loads(l) for l in open(args.peers)]
    glm = [json.loads(l) for l in open(args.glmkit)]
    assert len(peers) == len(glm), (len(peers), len(glm))
    rows = []
    for p, g in zip(peers, glm):
        assert p["id"] == g["id"]
        if args.split != "all" and p["split"] != args.split:
            continue
        p = dict(p)
        p["glm"] = g
        p["glm_removed"] = [r for r in rules if g.get(r)]
        p["dt_removed"] = [r for r in DT_RULES if p.get(r)]
        rows.append(p)
    clean = [r for r in rows if r["set"] == "clean"]
    noisy = [r for r in rows if r["set"] == "noisy"]

    print(f"split={args.split} clean={len(clean)} noisy={len(noisy)} rules={rules}\n")
    print("| lang | docs | glmkit langid | fastText lid.176 | clean docs (no gettext) | glmkit removed | datatrove removed | C4 alone (datatrove) | gettext docs | glmkit removed (gettext) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    by_lang = collections.defaultdict(list)
    for r in clean:
        by_lang[r["lang"]].append(r)
    tot = collections.Counter()
    for lang in sorted(by_lang):
        rs = by_lang[lang]
        ok_g = sum(r["glm"]["glmkit_lang"] == lang for r in rs)
        ok_f = sum(r["ft_lang"] == lang for r in rs)
        prose = [r for r in rs if r["format"] != "gettext"]
        gt = [r for r in rs if r["format"] == "gettext"]
        rem_g = sum(bool(r["glm_removed"]) for r in prose)
        rem_d = sum(bool(r["dt_removed"]) for r in prose)
        rem_c4 = sum(bool(r["c4"]) for r in prose)
        rem_gt = sum(bool(r["glm_removed"]) for r in gt)
        n = len(prose)
        pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"
        print(f"| {lang} | {len(rs)} | {ok_g / len(rs):.3f} | {ok_f / len(rs):.3f} | {n} | {pct(rem_g, n)} | {pct(rem_d, n)} | {pct(rem_c4, n)} | {len(gt)} | {pct(rem_gt, len(gt))} |")
        for k, v in (("docs", len(rs)), ("ok_g", ok_g), ("ok_f", ok_f), ("n", n), ("rem_g", rem_g), ("rem_d", rem_d), ("rem_c4", rem_c4), ("gt", len(gt)), ("rem_gt", rem_gt)):
            tot[k] += v
        if args.show:
            shown = 0
            for r in rs:
                bad_lang = r["glm"]["glmkit_lang"] != lang
                if (bad_lang or (r["format"] != "gettext" and r["glm_removed"])) and shown < args.show:
                    shown += 1
                    why = {k: r["glm"][k] for k in r["glm_removed"]}
                    print(f"    MISS {r['id']} {r['format']} lang={r['glm']['glmkit_lang']}:{r['glm']['glmkit_score']} {why}")
    t = tot
    print(f"| all | {t['docs']} | {t['ok_g'] / t['docs']:.3f} | {t['ok_f'] / t['docs']:.3f} | {t['n']} | {100 * t['rem_g'] / t['n']:.1f}% | {100 * t['rem_d'] / t['n']:.1f}% | {100 * t['rem_c4'] / t['n']:.1f}% | {t['gt']} | {100 * t['rem_gt'] / max(t['gt'], 1):.1f}% |")

    print("\n| noisy defect | docs | glmkit removed | datatrove removed |")
    print("|---|---|---|---|")
    by_defect = collections.defaultdict(list)
    for r in noisy:
        by_defect[r["defect"]].append(r)
    for d in sorted(by_defect):
        rs = by_defect[d]
        g = sum(bool(r["glm_removed"]) for r in rs)
        dt = sum(bool(r["dt_removed"]) for r in rs)
        print(f"| {d} | {len(rs)} | {100 * g / len(rs):.1f}% | {100 * dt / len(rs):.1f}% |")
        if args.show:
            for r in [r for r in rs if not r["glm_removed"]][: args.show]:
                print(f"    KEPT {r['id']} {r['source']} lang={r['glm']['glmkit_lang']}")
    g = sum(bool(r["glm_removed"]) for r in noisy)
    dt = sum(bool(r["dt_removed"]) for r in noisy)
    print(f"| all | {len(noisy)} | {100 * g / len(noisy):.1f}% | {100 * dt / len(noisy):.1f}% |")

    print("\nglmkit removals by rule (first failing rule in order):")
    for kind, rs in (("clean", [r for r in clean if r["format"] != "gettext"]), ("noisy", noisy)):
        c = collections.Counter()
        for r in rs:
            if r["glm_removed"]:
                c[(r["glm_removed"][0], r["glm"][r["glm_removed"][0]][0])] += 1
        print(" ", kind, dict(c.most_common()))


def markdown(args, rules):
    peers = [json.loads(l) for l in open(args.peers)]
    glm = [json.loads(l) for l in open(args.glmkit)]
    wl = [json.loads(l) for l in open(args.whatlang)] if args.whatlang else [None] * len(peers)
    rows = []
    for p, g, w in zip(peers, glm, wl):
        assert p["id"] == g["id"]
        p = dict(p, glm=g, wl=w, glm_removed=any(g.get(r) for r in rules), dt_removed=any(p.get(r) for r in DT_RULES))
        rows.append(p)
    clean = [r for r in rows if r["set"] == "clean"]
    noisy = [r for r in rows if r["set"] == "noisy"]
    pct = lambda a, b: f"{100 * a / b:.1f}" if b else "-"
    print("| lang | docs | glmkit langid | whatlang alone | fastText lid.176 | prose docs (dev / held-out) | glmkit removed % (all / dev / held-out) | datatrove 4 filters removed % | datatrove C4 alone % | gettext docs | glmkit removed gettext % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    langs = sorted({r["lang"] for r in clean})
    def line(name, rs):
        prose = [r for r in rs if r["format"] != "gettext"]
        dev = [r for r in prose if r["split"] == "dev"]
        held = [r for r in prose if r["split"] == "heldout"]
        gt = [r for r in rs if r["format"] == "gettext"]
        acc = lambda f: f"{sum(f(r) for r in rs) / len(rs):.3f}"
        wcol = acc(lambda r: r["wl"]["glmkit_lang"] == r["lang"]) if args.whatlang else "-"
        rem = lambda xs: pct(sum(r["glm_removed"] for r in xs), len(xs))
        print(f"| {name} | {len(rs)} | {acc(lambda r: r['glm']['glmkit_lang'] == r['lang'])} | {wcol} | {acc(lambda r: r['ft_lang'] == r['lang'])} "
              f"| {len(prose)} ({len(dev)} / {len(held)}) | {rem(prose)} / {rem(dev)} / {rem(held)} "
              f"| {pct(sum(r['dt_removed'] for r in prose), len(prose))} | {pct(sum(bool(r['c4']) for r in prose), len(prose))} "
              f"| {len(gt)} | {rem(gt)} |")
    for lang in langs:
        line(lang, [r for r in clean if r["lang"] == lang])
    line("**all**", clean)
    print()
    print("| noisy defect | docs | glmkit removed % (all / dev / held-out) | datatrove 4 filters removed % |")
    print("|---|---|---|---|")
    defects = sorted({r["defect"] for r in noisy})
    for d in defects + ["**all**"]:
        rs = noisy if d == "**all**" else [r for r in noisy if r["defect"] == d]
        dev = [r for r in rs if r["split"] == "dev"]
        held = [r for r in rs if r["split"] == "heldout"]
        rem = lambda xs: pct(sum(r["glm_removed"] for r in xs), len(xs))
        print(f"| {d} | {len(rs)} | {rem(rs)} / {rem(dev)} / {rem(held)} | {pct(sum(r['dt_removed'] for r in rs), len(rs))} |")


if __name__ == "__main__":
    main()
