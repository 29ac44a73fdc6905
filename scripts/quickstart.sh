#!/usr/bin/env bash
# The MQG recipe in miniature, on the bundled corpus (data/corpus), in about five minutes on a CPU
# WebGPU adapter:
#   0. turn the textbook-style text (topics.txt) into questions with `mqg questions --generator cloze`
#      (offline; a real run asks an LLM endpoint), holding out a fifth of the passages: their
#      questions are never trained on;
#   1. pretrain a tiny model (mqg-tiny, ~1M parameters) on the textbook-style text;
#   2. continue training it on the generated questions of the other passages, with the bundled
#      exam-style questions (questions.txt), and score the held-out generated questions by
#      log-likelihood after stage 1 and after stage 2;
#   3. rank the options of the held-out multiple-choice questions by log-likelihood (no fine-tuning);
#   4. fine-tune a multiple-choice head (a linear map of the last token's hidden state) on a train
#      split of the bundled MCQ set (mcq.jsonl) and report its validation accuracy next to chance and
#      next to the log-likelihood ranking, with the loss curves.
# A model this small, trained for minutes on ~200 KB of text, is a demo of the pipeline: its
# accuracies are close to chance and, on a few dozen questions, differ from each other by noise.
# Environment: QUICKSTART_OUT (default runs/quickstart), QUICKSTART_SCALE (multiplies the step counts).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

OUT="${QUICKSTART_OUT:-runs/quickstart}"
SCALE="${QUICKSTART_SCALE:-1}"
steps() { echo $(( $1 * SCALE )); }
mqg() { node bin/mqg.js "$@"; }
say() { printf '\n[quickstart] %s\n' "$*"; }
newest() { ls -d "$1"/checkpoints/step-* | tail -n 1; }
START=$(date +%s)
mkdir -p "$OUT"

say "questions: cloze questions written from each passage of the textbook text; a fifth of the passages held out"
# questions-train.jsonl / corpus-train.txt: the questions of the other passages (trained on in stage 2);
# questions-heldout.jsonl: those of the held-out passages (only evaluated)
mqg questions --generator cloze --text data/corpus/topics.txt --holdout-fraction 0.2 --out "$OUT/questions" --overwrite

say "tokenizer: a 2048-token byte-level BPE trained on the bundled text"
mqg tokenizer train --text data/corpus/topics.txt,data/corpus/questions.txt --vocab-size 2048 --out "$OUT/tokenizer.json" --overwrite
mqg data prepare --text data/corpus/topics.txt --tokenizer "$OUT/tokenizer.json" --out "$OUT/data-textbook" --documents paragraph --val-fraction 0.1 --overwrite
# stage 2's text: the generated questions of the training passages, then the bundled exam-style
# questions (the downstream format, as MQG prompts its generator with questions like the task's)
mqg data prepare --text "$OUT/questions/corpus-train.txt,data/corpus/questions.txt" --tokenizer "$OUT/tokenizer.json" --out "$OUT/data-questions" \
  --documents paragraph --val-fraction 0.1 --overwrite
# the held-out generated questions scored by log-likelihood (no head): after stage N into heldout-N.json
heldout() { mqg eval-mcq --checkpoint "$1" --data "$OUT/questions/questions-heldout.jsonl" --report "$OUT/heldout-$2.json" --overwrite > "$OUT/heldout-$2.txt"; sed -n 1p "$OUT/heldout-$2.txt"; }

say "1/4 pretraining mqg-tiny on the textbook-style text"
mqg train --preset mqg-tiny --data "$OUT/data-textbook" --tokenizer "$OUT/tokenizer.json" --steps "$(steps 150)" --warmup 15 \
  --batch-size 8 --seq-len 128 --lr 2e-3 --eval-every 50 --save-every 0 --out "$OUT/pretrain" --overwrite --mcq '' --sample-tokens 0
heldout "$(newest "$OUT/pretrain")" 1

say "2/4 continuing on the generated questions of the training passages and the exam-style questions"
mqg train --init "$(newest "$OUT/pretrain")/model.safetensors" --data "$OUT/data-questions" --steps "$(steps 80)" --warmup 5 \
  --batch-size 8 --seq-len 128 --lr 1e-3 --min-lr 1e-4 --eval-every 40 --save-every 0 --out "$OUT/continue" --overwrite --mcq '' \
  --sample-prompt 'Question: Which' --sample-tokens 30
BODY="$(newest "$OUT/continue")"
heldout "$BODY" 2

# a fixed split of the 68 bundled questions: the first 48 to fine-tune on, the last 20 to validate
head -n 48 data/corpus/mcq.jsonl > "$OUT/mcq-train.jsonl"
tail -n 20 data/corpus/mcq.jsonl > "$OUT/mcq-val.jsonl"

say "3/4 ranking the validation options by log-likelihood (no head)"
mqg eval-mcq --checkpoint "$BODY" --data "$OUT/mcq-val.jsonl" --report "$OUT/loglik-val.json" --overwrite > "$OUT/loglik-val.txt"
sed -n 1p "$OUT/loglik-val.txt"

say "4/4 fine-tuning a multiple-choice head (and the model) on the 48 train questions"
mqg finetune-mcq --init "$BODY" --data "$OUT/mcq-train.jsonl" --val-data "$OUT/mcq-val.jsonl" --head multiple-choice \
  --steps "$(steps 30)" --batch-size 8 --lr 5e-4 --min-lr 5e-5 --warmup 3 --weight-decay 0 --eval-every 10 \
  --out "$OUT/finetune" --overwrite

node - "$OUT" "$(( $(date +%s) - START ))" <<'EOF'
const fs = require('node:fs');
const [out, secs] = process.argv.slice(2);
const ll = JSON.parse(fs.readFileSync(`${out}/loglik-val.json`, 'utf8')).metrics;
const ft = JSON.parse(fs.readFileSync(`${out}/finetune/report.json`, 'utf8'));
const held = [1, 2].map((n) => JSON.parse(fs.readFileSync(`${out}/heldout-${n}.json`, 'utf8')));
const split = JSON.parse(fs.readFileSync(`${out}/questions/run.json`, 'utf8')).counts;
const pct = (x) => `${(100 * x).toFixed(1)}%`;
// a table row: the label, then each value right-aligned in a 10-character column
const line = (label, ...values) => `  ${label.padEnd(48)}${values.map((x) => (typeof x === 'number' ? pct(x) : x).padStart(10)).join('')}`;
const loglik = (m) => ['sum', 'mean', 'uncond'].map((k) => m[k].overall.accuracy);
const se = (n) => (100 * Math.sqrt(0.2 * 0.8 / n)).toFixed(0);
const curve = (file) => {
  const losses = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
  const bars = '▁▂▃▄▅▆▇█', lo = Math.min(...losses), hi = Math.max(...losses), n = 40;
  const pick = Array.from({ length: Math.min(n, losses.length) }, (_, i) => losses[Math.floor((i * losses.length) / Math.min(n, losses.length))]);
  return `${pick.map((x) => bars[Math.round(((x - lo) / (hi - lo || 1)) * 7)]).join('')}  ${losses[0].toFixed(2)} -> ${losses.at(-1).toFixed(2)}`;
};
const v = ft.validation.overall;
const h = held[0].questions;
console.log(`
== mqg quickstart (${secs} s in all) ==
held-out generated questions: the ${h} cloze questions of ${split.holdout.passages} of the ${split.passagesDone} textbook passages, whose
questions were never trained on (2/4 trained on the other passages' ${split.holdout.trainQuestions}), ranked by log-likelihood
(summed, per-token mean, unconditional-normalised):
${line('', 'summed', 'mean', 'uncond.')}
${line('chance (a random option)', held[0].metrics.sum.overall.chance.accuracy)}
${line('after 1/4, pretraining on the textbook text', ...loglik(held[0].metrics))}
${line('after 2/4, + the other passages\' questions', ...loglik(held[1].metrics))}
bundled multiple-choice set: ${v.questions} validation questions (mcq.jsonl), after 2/4:
${line('chance (a random option)', v.chance.accuracy)}
${line('log-likelihood ranking, summed', ll.sum.overall.accuracy)}
${line('log-likelihood ranking, per-token mean', ll.mean.overall.accuracy)}
${line('log-likelihood, unconditional-normalised', ll.uncond.overall.accuracy)}
${line('fine-tuned multiple-choice head (last step)', v.accuracy)}
${line(`fine-tuned head, best checkpoint (step ${ft.best.step})`, ft.best.accuracy)}  (picked on these same questions)
loss curves (training loss per step; SVGs with validation in ${out}/*/loss.svg):
  pretrain  ${curve(`${out}/pretrain/metrics.jsonl`)}
  continue  ${curve(`${out}/continue/metrics.jsonl`)}
  finetune  ${curve(`${out}/finetune/metrics.jsonl`)}
This is a demo: a ~1M-parameter model trained for minutes on ~200 KB of text knows next to no
medicine; one standard error of an accuracy near chance is ${se(v.questions)} points on ${v.questions} questions, ${se(h)} on ${h}.
The same commands scale to real checkpoints (--init a GPT-2 or BioMedLM checkpoint), to questions
an LLM writes from your own textbooks (mqg questions --endpoint: the README's "The MQG recipe on
your own textbooks") and to real exam sets (--format medqa, medmcqa, mmlu, frenchmedmcqa).`);
EOF
