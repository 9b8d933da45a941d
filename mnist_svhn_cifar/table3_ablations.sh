#!/usr/bin/env bash
# The paper's Table 3 (Inception scores of CIFAR-10 samples, one column per technique left out) with
# train_cifar_minibatch_discrimination.py: each column is trained for EPOCHS, evaluated (test error, samples, the
# Inception score when the 2015 graph is there: see inception_score/README.md) and the six runs are reported in one
# table with their learning curves (OUT/report/).
#
#   bash mnist_svhn_cifar/table3_ablations.sh [EPOCHS] [OUT]        # defaults: 1200 (the original's), runs/table3
#
# Data: DATA_DIR (cifar-10-batches-py/ or cifar-10-python.tar.gz in it). Without DATA_DIR a synthetic stand-in in
# the original's files is written to OUT/data (100 images per class), and the runs default to a quarter of the
# widths, 10 labels per class and 1,000 samples:
# a check of the whole pipeline in minutes on a CPU, not the paper's numbers. Overrides: FLAGS (added to every
# training run, e.g. FLAGS="--width_scale=0.25"), NUM_SAMPLES (samples scored per run; the paper's 50,000),
# INCEPTION_DIR (where the Inception graph is).
set -euo pipefail
source "$(dirname "$0")/arguments.sh" "$@"
epochs=${1:-1200}
out=${2:-runs/table3}
here=$(dirname "$0")
python=${PYTHON:-python}
if [ -z "${DATA_DIR:-}" ]; then
  DATA_DIR="$out/data"
  "$python" -m improved_gan_tf2.data.writers --synthetic=cifar10 --out="$DATA_DIR" --train=1000 --test=200
  FLAGS=${FLAGS:---width_scale=0.25 --count=10}
  NUM_SAMPLES=${NUM_SAMPLES:-1000}
fi
num_samples=${NUM_SAMPLES:-50000}
# Table 3's columns: "Our methods" has every technique (the released code lacks virtual batch norm and label
# smoothing, so they are flags); each other column leaves one out.
columns=(our_methods minus_vbn_plus_bn minus_l_plus_ha minus_ls minus_l minus_mbf)
declare -A column_flags=(
  [our_methods]="--virtual_batch_norm --label_smoothing"
  [minus_vbn_plus_bn]="--label_smoothing"
  [minus_l_plus_ha]="--virtual_batch_norm --label_smoothing --no_labels_historical_averaging"
  [minus_ls]="--virtual_batch_norm"
  [minus_l]="--virtual_batch_norm --label_smoothing --no_labels"
  [minus_mbf]="--virtual_batch_norm --label_smoothing --no_minibatch_features"
)
runs=()
for column in "${columns[@]}"; do
  echo "== $column: ${column_flags[$column]} ${FLAGS:-}"
  # shellcheck disable=SC2086  # the flags are words
  "$python" "$here/train_cifar_minibatch_discrimination.py" --data_dir="$DATA_DIR" --epochs="$epochs" \
    --out_dir="$out/$column" ${column_flags[$column]} ${FLAGS:-} | grep -E "^Iteration|^error" | tail -n 1
  "$python" -m improved_gan_tf2.evaluate "$out/$column" --num_samples="$num_samples" --inception_score \
    ${INCEPTION_DIR:+--model_dir="$INCEPTION_DIR"}
  runs+=("$out/$column")
done
"$python" -m improved_gan_tf2.report "${runs[@]}" --out="$out/report"
