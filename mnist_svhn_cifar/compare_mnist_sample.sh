#!/usr/bin/env bash
# Evidence for the README: semi-supervised feature matching vs the supervised-only baseline
# (--unlabeled_weight=0: same networks, same labelled examples, same budget) on the shipped MNIST sample,
# 100 labels (--count=10), several seeds. Usage: bash mnist_svhn_cifar/compare_mnist_sample.sh [EPOCHS] [OUT]
set -euo pipefail
source "$(dirname "$0")/arguments.sh" "$@"
epochs=${1:-100}
out=${2:-runs/compare_mnist_sample}
here=$(dirname "$0")
for seed in 1 2 3; do
  for weight in 1 0; do
    python "$here/train_mnist_feature_matching.py" --dataset=mnist_sample --count=10 --epochs="$epochs" \
      --seed="$seed" --seed_data="$seed" --unlabeled_weight="$weight" \
      --out_dir="$out/seed${seed}_unlabeled_weight${weight}" | grep -E "^Iteration" | tail -n 1
  done
done
python - "$out" <<'PY'
import glob, json, os, sys
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "summary.json"))):
    s = json.load(open(path))
    rows.setdefault(s["flags"]["unlabeled_weight"] > 0, []).append(s)
print("| run | seeds | test errors (averaged params, of 1000) | mean error rate | raw params: mean error rate |")
print("| --- | --- | --- | --- | --- |")
for gan in (True, False):
    runs = rows.get(gan, [])
    if not runs:
        continue
    errs = [r["test_errors"] for r in runs]
    rate = sum(r["test_err"] for r in runs) / len(runs)
    raw = sum(r["test_err_raw"] for r in runs) / len(runs)
    name = "feature matching (unlabeled_weight=1)" if gan else "baseline (unlabeled_weight=0)"
    print(f"| {name} | {', '.join(str(r['flags']['seed']) for r in runs)} | {', '.join(map(str, errs))} | {rate:.4f} | {raw:.4f} |")
if rows.get(True) and rows.get(False):
    g = sum(r["test_err"] for r in rows[True]) / len(rows[True])
    b = sum(r["test_err"] for r in rows[False]) / len(rows[False])
    print(f"ratio GAN / baseline (averaged params): {g / b:.3f}")
PY
