#!/usr/bin/env bash
# Remakes fuzz/corpus/ from real files: the bundled datasets cut small (make_data.py);
# checkpoints of 2-epoch runs of tiny.toml with every optimizer and every schedule; the
# example run configs; the default study and this folder's; a results store of study.toml.
# Usage: bash fuzz/seeds/make.sh [path/to/gradlab]   (default: target/release/gradlab)
set -euo pipefail
cd "$(dirname "$0")/../.."
gradlab=$(realpath "${1:-target/release/gradlab}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
c=fuzz/corpus
rm -rf "$c"
python3 fuzz/seeds/make_data.py
mkdir -p $c/{weights,optimizer,ema,best_weights,checkpoint_meta,run_config,study,store}

# A run of tiny.toml; its last checkpoint's files go to the targets' corpora as NAME.*.
run() {
    local name=$1
    shift
    "$gradlab" train fuzz/seeds/tiny.toml --quiet --set "log.dir=\"$tmp/$name\"" "$@" >/dev/null
    local dir="$tmp/$name/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dir"])' "$tmp/$name/checkpoint.json")"
    cp "$dir/optimizer.safetensors" "$c/optimizer/$name.safetensors"
}
for opt in $(sed -n '/^pub const NAMES/,/^];/p' optim/src/optimizers/mod.rs | grep -o '"[a-z_]*"' | tr -d '"'); do
    run "$opt" --set "optimizer={ name = \"$opt\", lr = 0.01 }" --set "schedule={ name = \"constant\" }"
done
# The schedules, as the fuzz target builds them (fuzz/src/lib.rs, SCHEDULES).
while IFS='|' read -r name table; do
    run "adamw-$name" --set "optimizer={ name = \"adamw\", lr = 0.01 }" --set "schedule=$table"
done < <(sed -n '/^pub const SCHEDULES/,/^];/p' fuzz/src/lib.rs | tr -d '\n' | grep -o '( *"[a-z_]*", *"[^"]*" *,\? *)' |
    sed -E 's/\( *"([a-z_]*)", *"(.*)" *,? *\)/\1|{ \2 }/; s/\\n/, /g')
# The tiny run as it stands (adamw, cosine, EMA, early stopping): every kind of file.
"$gradlab" train fuzz/seeds/tiny.toml --quiet --set "log.dir=\"$tmp/tiny\"" >/dev/null
dir="$tmp/tiny/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dir"])' "$tmp/tiny/checkpoint.json")"
cp "$dir/model.safetensors" $c/weights/tiny.safetensors
cp "$dir/ema.safetensors" $c/ema/tiny.safetensors
cp "$dir/best.safetensors" $c/best_weights/tiny.safetensors
cp "$dir/trainer.json" $c/checkpoint_meta/trainer.json
cp "$tmp/tiny/checkpoint.json" $c/checkpoint_meta/checkpoint.json
python3 fuzz/seeds/make_pt_weights.py $c/weights/tiny.safetensors $c/weights/tiny-pytorch-i64-buffer.safetensors

cp examples/train/*.toml examples/problems/*.toml fuzz/seeds/tiny.toml $c/run_config/
printf '%s\n%%%%\n%s\n%s\n' "$(cat examples/train/digits_mlp.toml)" 'optimizer.lr=0.1' 'model.layers.1.out_features=32' \
    >$c/run_config/digits_mlp-with-set.toml
cp lab/studies/default.toml fuzz/seeds/study.toml $c/study/
sed -n '/^\/\/! ```toml/,/^\/\/! ```$/p' lab/src/study/mod.rs |
    sed '1d;$d; s/^\/\/! \{0,1\}//; s|"\.\./examples/|"../../examples/|' >$c/study/doc-example.toml

"$gradlab" compare fuzz/seeds/study.toml --out "$tmp/compare" --workers 1 --quiet >/dev/null
python3 - "$tmp/compare/results.db" $c/store/fuzz-seed.db <<'PY'
import shutil, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA journal_mode=DELETE")
con.execute("VACUUM")
con.close()
shutil.copy(sys.argv[1], sys.argv[2])
PY
du -sh $c
