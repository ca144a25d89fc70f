#!/usr/bin/env python3
"""Re-measures the result tables of README.md and the examples' READMEs, and writes them in.

Every number in those tables comes from a run this script makes, on this machine, today; the
tables are the blocks between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`
and nothing else in the files is touched. Each block says when, on which CPU and by which
command it was measured.

    python3 bench/readme_tables.py                  # every table
    python3 bench/readme_tables.py examples study   # some of them

Tables: `examples` (every config of examples/train: test and validation accuracy, epochs, wall
time), `problems` (every config of examples/problems and its fix under the doctor's economy
preset: the findings), `doctor` (the doctor's report on examples/problems/vanishing_gradients.toml,
with `--verify`), `verify` (`gradlab diagnose FILE --verify` on every config of
examples/problems: the remedy that works and the tuning metric before and after), `study` (the
default study: ranking, test accuracy per problem, verdicts, wall time).

Needs only Python's standard library and the release build (`cargo build --release -p cli`,
which this script runs when `target/release/gradlab` is missing).
"""

import csv
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRADLAB = ROOT / "target" / "release" / "gradlab"
LOAD_AT_START = os.getloadavg()[0]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def provenance(what):
    # Wall times are only comparable on a quiet machine: say when it was not. The load is read
    # when the script starts, before its own runs load the machine.
    load = LOAD_AT_START
    busy = (
        f" The machine was shared (1-minute load average {load:.1f} on {os.cpu_count()} cores when this started), "
        "so wall times may be longer than on a quiet one."
        if load > 0.5 * (os.cpu_count() or 1)
        else ""
    )
    return (
        f"Measured {datetime.date.today().isoformat()} on {cpu_model()} ({os.cpu_count()} cores) by "
        f"`python3 bench/readme_tables.py {what}`.{busy}"
    )


def run(args, cwd=ROOT, check=True):
    t0 = time.monotonic()
    p = subprocess.run([str(GRADLAB), *args], cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if check and p.returncode != 0:
        sys.exit(f"gradlab {' '.join(args)} failed:\n{p.stderr}")
    return p, wall


def replace_block(path, name, body):
    text = path.read_text()
    begin, end = f"<!-- BEGIN generated:{name} -->", f"<!-- END generated:{name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no block `{begin}` … `{end}`")
    text = pattern.sub(lambda _: f"{begin}\n{body.rstrip()}\n{end}", text)
    path.write_text(text)
    print(f"updated {path.relative_to(ROOT)}: {name}")


def pct(x):
    return "—" if x is None else f"{100 * x:.2f}%"


def first_comment(config):
    """The first sentence of a config's header comment."""
    lines = []
    for line in config.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def examples(tmp):
    rows = []
    for cfg in sorted((ROOT / "examples" / "train").glob("*.toml")):
        out = tmp / "examples" / cfg.stem
        _, wall = run(["train", str(cfg), "--quiet", "--out", str(out)])
        s = json.loads((out / "summary.json").read_text())
        last = s.get("last") or {}
        rows.append(
            f"| `{cfg.name}` | {s['epochs']} | {pct(last.get('val_accuracy'))} | "
            f"**{pct(last.get('test_accuracy'))}** | {wall:.1f} s |"
        )
        print(f"  {cfg.name}: {pct(last.get('test_accuracy'))} in {wall:.1f} s")
    body = "\n".join(
        [
            provenance("examples") + " Seed 0, the final epoch's numbers (no checkpoint "
            "selection); wall time is the whole command, data loading included.",
            "",
            "| config | epochs | val acc | **test acc** | wall time |",
            "|---|---:|---:|---:|---:|",
            *rows,
        ]
    )
    replace_block(ROOT / "README.md", "examples", body)
    replace_block(ROOT / "examples" / "train" / "README.md", "examples", body)


def findings(path):
    report = json.loads(path.read_text())
    fs = report.get("findings", [])
    if not fs:
        return "none"
    return ", ".join(f"`{f['kind']}` ({f['confidence']:.2f})" for f in fs)


def problems(tmp):
    rows = []
    folder = ROOT / "examples" / "problems"
    for cfg in sorted(folder.glob("*.toml")):
        if cfg.stem.endswith("_fix"):
            continue
        fix = folder / f"{cfg.stem}_fix.toml"
        got = []
        for c in [cfg, fix]:
            out = tmp / "problems" / c.stem
            run(
                ["diagnose", str(c), "--quiet", "--json", str(out / "doctor.json"),
                 "--out", str(out / "run")],
                check=False,
            )
            got.append(findings(out / "doctor.json") if (out / "doctor.json").exists() else "(run failed)")
        rows.append(f"| `{cfg.stem}` | {first_comment(cfg)} | {got[0]} | {got[1]} |")
        print(f"  {cfg.stem}: {got[0]} / fix: {got[1]}")
    body = "\n".join(
        [
            provenance("problems") + " Economy preset (`gradlab diagnose FILE`); confidence in "
            "brackets.",
            "",
            "| config | what it provokes | the doctor's findings | findings on `<config>_fix.toml` |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    replace_block(folder / "README.md", "problems", body)


def doctor(tmp):
    cfg = "examples/problems/vanishing_gradients.toml"
    p, _ = run(["diagnose", cfg, "--quiet", "--out", str(tmp / "doctor"), "--verify"], check=False)
    body = "\n".join(
        [
            provenance("doctor") + f" `gradlab diagnose {cfg} --verify`:",
            "",
            "```text",
            p.stdout.rstrip(),
            "```",
        ]
    )
    replace_block(ROOT / "README.md", "doctor", body)


def study(tmp):
    out = tmp / "study"
    _, wall = run(["compare", "--out", str(out), "--quiet", "--no-report"])
    tables = tmp / "tables"
    run(["report", "--store", str(out / "results.db"), "--out", str(tmp / "report.html"),
         "--export", str(tables)])
    groups = list(csv.DictReader(open(tables / "groups.csv")))
    ranking = list(csv.DictReader(open(tables / "ranking.csv")))
    verdicts = list(csv.DictReader(open(tables / "verdicts.csv")))
    problems = list(dict.fromkeys(g["problem"] for g in groups))
    acc = {}
    for g in groups:
        try:
            m, s = float(g["test_accuracy_mean"]), float(g["test_accuracy_std"] or 0)
            acc[(g["problem"], g["optimizer"])] = f"{100 * m:.1f} ± {100 * s:.1f}%"
        except ValueError:
            acc[(g["problem"], g["optimizer"])] = "—"
    runs = sum(int(g["runs"]) for g in groups)
    head = "| rank | optimizer | " + " | ".join(f"{p} test acc." for p in problems) + \
        " | mean rank | profile score |"
    sep = "|---|---|" + "---:|" * len(problems) + "---:|---:|"
    rows = []
    for r in ranking:
        cells = " | ".join(acc.get((p, r["optimizer"]), "—") for p in problems)
        rows.append(
            f"| {r['rank']} | {r['optimizer']} | {cells} | "
            f"{float(r['mean_rank']):.2f} | {float(r['profile_score']):.2f} |"
        )
    lines = [
        provenance("study") + f" {runs} runs in {wall:.0f} s (the whole `gradlab compare` "
        "command, default workers); test accuracy is mean ± std over the five final seeds of each "
        "optimizer's best setting (seeds 1–5: the tuning trial at seed 0 is left out).",
        "",
        head,
        sep,
        *rows,
        "",
        "Verdicts (as the report prints them):",
        "",
    ]
    lines += [f"- {v['text']}" for v in verdicts if v.get("text")]
    replace_block(ROOT / "README.md", "study", "\n".join(lines))


def show_metric(name, v):
    if v is None:
        return "—"
    return f"{100 * v:.1f}%" if name.endswith("accuracy") else f"{v:.4g}"


def set_flag(setting):
    """`key = "word"` as `key=word` (as the doctor's report prints it)."""
    k, _, v = setting.partition("=")
    k, v = k.strip(), v.strip()
    if v.startswith('"') and v.endswith('"') and re.fullmatch(r"[\w-]+", v[1:-1]):
        v = v[1:-1]
    return f"{k}={v}"


def verify(tmp):
    rows = []
    folder = ROOT / "examples" / "problems"
    for cfg in sorted(folder.glob("*.toml")):
        if cfg.stem.endswith("_fix"):
            continue
        out = tmp / "verify" / cfg.stem
        _, wall = run(
            ["diagnose", str(cfg), "--quiet", "--json", str(out / "doctor.json"),
             "--out", str(out / "run"), "--verify"],
            check=False,
        )
        r = json.loads((out / "doctor.json").read_text())
        v = r.get("verification") or {}
        name = v.get("metric") or "metric"
        trials = v.get("trials", [])
        tried = ", ".join(
            f"{i + 1}: {'gone' if t.get('gone') else ('failed' if t.get('error') else 'stays')}"
            for i, t in enumerate(trials)
        )
        works = next(
            (i for i, t in enumerate(trials) if t.get("gone") and not t.get("findings")), None
        )
        if works is None:
            cell = "none of them"
        else:
            t = trials[works]
            flags = " ".join(f"`--set {set_flag(a)}`" for a in t["config"].split("; "))
            cell = (
                f"{works + 1}. {t['action']} ({flags}): {name} "
                f"{show_metric(name, v.get('before'))} → {show_metric(name, t.get('metric'))}"
            )
        first = next((f["kind"] for f in r.get("findings", []) if f["kind"] != "converged"), "none")
        rows.append(f"| `{cfg.stem}` | `{first}` | {tried} | {cell} | {wall:.1f} s |")
        print(f"  {cfg.stem}: {cell}")
    body = "\n".join(
        [
            provenance("verify") + " `gradlab diagnose FILE --verify` (economy preset, the top "
            "3 remedies trained alone with the run's seed and budget); \"gone\": the remedied "
            "run no longer shows the finding the remedy answers; the remedy that works is the "
            "first that leaves no problem at all. Wall time: the whole command (diagnosis and "
            "the three remedy runs in parallel).",
            "",
            "| config | first finding | remedies tried | the remedy that works | wall time |",
            "|---|---|---|---|---:|",
            *rows,
        ]
    )
    replace_block(folder / "README.md", "verify", body)


TABLES = {
    "examples": examples,
    "problems": problems,
    "doctor": doctor,
    "verify": verify,
    "study": study,
}


def main():
    which = sys.argv[1:] or list(TABLES)
    unknown = [w for w in which if w not in TABLES]
    if unknown:
        sys.exit(f"unknown table(s) {unknown}; valid: {', '.join(TABLES)}")
    if not GRADLAB.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "cli"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="gradlab-readme-") as d:
        for w in which:
            print(f"{w}:")
            TABLES[w](pathlib.Path(d))


if __name__ == "__main__":
    main()
