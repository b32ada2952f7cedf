#!/usr/bin/env bash
# Data-parallel training under mpirun on loopback: small real `align` runs with 2 and 3 ranks.
# Checks: same-N runs bit-identical (metrics and weights), N-rank metrics within 1e-5 (relative)
# of one process, the ranks' checksums equal, a 2-rank checkpoint resumed by 3 ranks, reward, dpo
# and ppo data parallel, PPO rollouts and `align generate` sampled across ranks (the same samples
# as one process), `sft-vs-rlaif` spread over 2 ranks (one process's results.json), and bad
# launches (mismatched options, a rank without the data file, a rank killed mid-run) failing with
# a message naming the rank and leaving a loadable checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-mpi.sh
swift build -c release --product align -q
swift build -c release --product sft-vs-rlaif -q
ALIGN="$PWD/.build/release/align"
REPRO="$PWD/.build/release/sft-vs-rlaif"
# A build made before Open MPI was installed keeps its MPI stubs until a clean build.
if ! ldd "$ALIGN" | grep -q libmpi; then
  echo "align was built without MPI (Open MPI installed later): swift package clean and rebuild" >&2
  swift package clean
  swift build -c release --product align -q
  swift build -c release --product sft-vs-rlaif -q
fi
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMP_NUM_THREADS=1

for i in $(seq 0 47); do
  printf '{"prompt": "Q%d: add one to %d =", "completion": " %d"}\n' "$i" "$i" $((i + 1))
done > sft.jsonl
for i in $(seq 0 23); do
  printf '{"prompt": "say %d:", "chosen": " %d %d", "rejected": " %d"}\n' "$i" "$i" "$i" $((i + 7))
done > pref.jsonl
head -n 10 sft.jsonl > eval.jsonl

# Batches of 7 with micro-batches of 7: 3 ranks take 3, 2, 2 examples.
SFT=(sft --data sft.jsonl --eval-data eval.jsonl --eval-every 3 --d-model 32 --layers 2 --heads 2 --context 32
     --batch-size 7 --epochs 2 --lr 1e-3 --max-prompt-length 24 --schedule cosine --warmup 2 --loss-reduction token_mean)

fail() { echo "test-mpi: FAILED: $*" >&2; exit 1; }
column() { sed 's#\\/#/#g' "$1" | grep -o "\"$2\":[-0-9.e+]*" | cut -d: -f2; }
# Every value of each metric within 1e-5 of the reference's, relative to max(1, |reference|).
close() {
  local a=$1 b=$2; shift 2
  for key in "$@"; do
    paste <(column "$a" "$key") <(column "$b" "$key") | awk -v key="$key" -v f="$a" '
      { n++; d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; if (s < 1) s = 1; if (d / s > max) max = d / s }
      END { if (n == 0) { print "no " key " in " f; exit 1 } if (max > 1e-5) { printf "%s: %s differs by %.3g\n", f, key, max; exit 1 }
            printf "  %s: %d values of %s within %.2g of one process\n", f, n, key, max }' || fail "$a against $b"
  done
}
checksum() { grep -o 'parameter checksum [0-9a-f]*' "$1" | cut -d' ' -f3; }

echo "one process"
"$ALIGN" "${SFT[@]}" --output one > one.log 2>&1 || { cat one.log; fail "one process"; }
for n in 2 3; do
  echo "$n ranks, twice"
  for run in a b; do
    "${MPIRUN[@]}" -np $n "$ALIGN" "${SFT[@]}" --output "n$n$run" --check-replicas-every 4 > "n$n$run.log" 2>&1 || { cat "n$n$run.log"; fail "$n ranks"; }
    grep -q "data parallel: $n ranks agree" "n$n$run.log" || fail "no replica agreement line in n$n$run.log"
  done
  cmp "n${n}a/metrics.jsonl" "n${n}b/metrics.jsonl" || fail "$n-rank runs differ in metrics"
  cmp "n${n}a/checkpoint/model.safetensors" "n${n}b/checkpoint/model.safetensors" || fail "$n-rank runs differ in weights"
  cmp "n${n}a/checkpoint/optimizer.safetensors" "n${n}b/checkpoint/optimizer.safetensors" || fail "$n-rank runs differ in optimizer state"
  [ "$(checksum "n${n}a.log")" = "$(checksum "n${n}b.log")" ] || fail "$n-rank checksums differ between runs"
  echo "  bit-identical: metrics.jsonl, model and optimizer state, checksum $(checksum "n${n}a.log")"
  close "n${n}a/metrics.jsonl" one/metrics.jsonl loss grad_norm logps eval/loss
done

echo "resume: 2 ranks stop after 5 steps, 3 ranks finish"
"${MPIRUN[@]}" -np 2 "$ALIGN" "${SFT[@]}" --output resumed --stop-after 5 > resume2.log 2>&1 || { cat resume2.log; fail "2-rank part"; }
[ "$(wc -l < resumed/metrics.jsonl)" = 5 ] || fail "the 2-rank part logged $(wc -l < resumed/metrics.jsonl) steps, not 5"
"${MPIRUN[@]}" -np 3 "$ALIGN" "${SFT[@]}" --output resumed > resume3.log 2>&1 || { cat resume3.log; fail "3-rank part"; }
grep -q "resumed at step 5" resume3.log || fail "3 ranks did not resume at step 5"
close resumed/metrics.jsonl one/metrics.jsonl loss grad_norm eval/loss

echo "reward and dpo, 2 ranks against one process"
COMMON=(--data pref.jsonl --d-model 32 --layers 2 --heads 2 --context 32 --batch-size 6 --grad-accum 2 --epochs 2 --lr 1e-3)
"$ALIGN" reward "${COMMON[@]}" --output reward1 > reward1.log 2>&1 || { cat reward1.log; fail "reward"; }
"${MPIRUN[@]}" -np 2 "$ALIGN" reward "${COMMON[@]}" --output reward2 > reward2.log 2>&1 || { cat reward2.log; fail "reward, 2 ranks"; }
close reward2/metrics.jsonl reward1/metrics.jsonl loss accuracy margin
"$ALIGN" dpo "${COMMON[@]}" --model one/checkpoint --output dpo1 > dpo1.log 2>&1 || { cat dpo1.log; fail "dpo"; }
"${MPIRUN[@]}" -np 2 "$ALIGN" dpo "${COMMON[@]}" --model one/checkpoint --output dpo2 > dpo2.log 2>&1 || { cat dpo2.log; fail "dpo, 2 ranks"; }
close dpo2/metrics.jsonl dpo1/metrics.jsonl loss rewards/margins logps/chosen

echo "ppo, 2 ranks against one process (one chunk: rank 0 samples the rollout; minibatch rows are shared)"
for i in $(seq 0 11); do printf '{"prompt": "Q%d: add one to %d ="}\n' "$i" "$i"; done > prompts.jsonl
PPO=(ppo --model one/checkpoint --reward-model reward1/checkpoint --prompts prompts.jsonl --rollouts 2 --rollout-batch 6 --mini-batch 3
     --ppo-epochs 2 --max-new-tokens 4 --lr 1e-4)
"$ALIGN" "${PPO[@]}" --output ppo1 > ppo1.log 2>&1 || { cat ppo1.log; fail "ppo"; }
"${MPIRUN[@]}" -np 2 "$ALIGN" "${PPO[@]}" --output ppo2 > ppo2.log 2>&1 || { cat ppo2.log; fail "ppo, 2 ranks"; }
grep -q "data parallel: 2 ranks agree" ppo2.log || fail "no replica agreement line in ppo2.log"
close ppo2/metrics.jsonl ppo1/metrics.jsonl objective/scores loss/policy loss/value policy/approxkl
# The first value of each metric equal to the reference's (later rollouts follow weights that N
# ranks update with another order of additions, so only the first rollout's samples must be equal).
same_first() {
  local a=$1 b=$2; shift 2
  for key in "$@"; do
    [ -n "$(column "$a" "$key")" ] || fail "no $key in $a"
    [ "$(column "$a" "$key" | head -n 1)" = "$(column "$b" "$key" | head -n 1)" ] || fail "$a: $key differs from $b in the first rollout"
  done
  echo "  $a: $* of the first rollout equal to $b's"
}
# From here on one process and each rank run one thread: OpenBLAS's results depend in the last
# bits on how a product is split across threads, and these checks compare exact samples and files.
export TENSORCORE_NUM_THREADS=1
echo "ppo with rollouts in chunks of 2, 2 and 3 ranks sharing them: the first rollout's samples as one process's"
"$ALIGN" "${PPO[@]}" --rollout-chunk 2 --output ppoc1 > ppoc1.log 2>&1 || { cat ppoc1.log; fail "ppo, chunks"; }
for n in 2 3; do
  "${MPIRUN[@]}" -np $n "$ALIGN" "${PPO[@]}" --rollout-chunk 2 --output ppoc$n > ppoc$n.log 2>&1 || { cat ppoc$n.log; fail "ppo, chunks, $n ranks"; }
  same_first ppoc$n/metrics.jsonl ppoc1/metrics.jsonl objective/scores response_length objective/kl
  close ppoc$n/metrics.jsonl ppoc1/metrics.jsonl objective/scores objective/kl loss/policy loss/value policy/approxkl
done

echo "generate: 2 and 3 ranks share the batches, rank 0 prints what one process prints"
for i in $(seq 0 10); do printf '{"input_ids": [%d, %d]}\n' $((i + 40)) $((i + 50)); done > ids.jsonl
GEN=(generate --model one/checkpoint --input ids.jsonl --batch-size 3 --max-new-tokens 5 --temperature 0.8 --seed 4)
"$ALIGN" "${GEN[@]}" > gen1.jsonl 2> gen1.log || { cat gen1.log; fail "generate"; }
[ "$(wc -l < gen1.jsonl)" = 11 ] || fail "generate printed $(wc -l < gen1.jsonl) lines, not 11"
for n in 2 3; do
  "${MPIRUN[@]}" -np $n "$ALIGN" "${GEN[@]}" > gen$n.jsonl 2> gen$n.log || { cat gen$n.log; fail "generate, $n ranks"; }
  cmp gen$n.jsonl gen1.jsonl || fail "generate with $n ranks differs from one process"
done
echo "  identical output"

echo "sft-vs-rlaif, quick preset with seeds 0 and 1: 2 ranks write one process's results.json (timings aside)"
RUN=(--preset quick --seeds 0,1)
"$REPRO" "${RUN[@]}" --output repro1 > repro1.log 2>&1 || { tail -n 30 repro1.log; fail "sft-vs-rlaif"; }
"${MPIRUN[@]}" -np 2 "$REPRO" "${RUN[@]}" --output repro2 > repro2.log 2>&1 || { tail -n 30 repro2.log; fail "sft-vs-rlaif, 2 ranks"; }
grep -q "rank 1/2\] arm" repro2.log || fail "rank 1 computed no arm"
untimed() { grep -v '"seconds"' "$1"; }
cmp <(untimed repro1/quick/results.json) <(untimed repro2/quick/results.json) || fail "results.json of 2 ranks differs from one process's"
cmp repro1/quick/figures.md repro2/quick/figures.md || fail "figures.md of 2 ranks differs from one process's"
echo "  identical results.json (but for timings) and figures.md"

# Each bad launch must fail (non-zero), with a message naming the rank, and not hang.
bad() {
  local name=$1 expect=$2; shift 2
  if timeout 120 "$@" > "$name.log" 2>&1; then cat "$name.log"; fail "$name: the launch succeeded"; fi
  grep -q -- "$expect" "$name.log" || { cat "$name.log"; fail "$name: no '$expect' in the output"; }
  echo "  $name: refused ($(grep -m1 -- "$expect" "$name.log" | sed 's/^ *//'))"
}
echo "bad launches"
export ALIGN REPRO
bad mismatched 'rank 1 --seed: "1" (rank 0: "0")' \
  "${MPIRUN[@]}" -np 2 bash -c 'exec "$ALIGN" "$@" --seed "$OMPI_COMM_WORLD_RANK"' _ "${SFT[@]}" --output mismatched
bad repro-mismatched 'rank 1 --dpo-beta: "0.3" (rank 0: "0.2")' \
  "${MPIRUN[@]}" -np 2 bash -c 'exec "$REPRO" "$@" --dpo-beta "0.$((OMPI_COMM_WORLD_RANK + 2))"' _ --preset quick --output mismatched-repro
bad missing-data 'align (rank 2 of 3): --data: /nonexistent/sft.jsonl' \
  "${MPIRUN[@]}" -np 3 bash -c 'd=sft.jsonl; [ "$OMPI_COMM_WORLD_RANK" = 2 ] && d=/nonexistent/sft.jsonl; exec "$ALIGN" "$@" --data "$d"' _ "${SFT[@]}" --output missing
# Rank 1 is killed once the first checkpoint exists; the job must end and the checkpoint resume.
LONG=(sft --data sft.jsonl --d-model 32 --layers 2 --heads 2 --context 32 --batch-size 8 --epochs 1000 --lr 1e-3 --save-every 1)
bad killed 'process rank 1' \
  "${MPIRUN[@]}" -np 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
      (while [ ! -e killed/checkpoint/trainer_state.json ]; do sleep 0.1; done; sleep 0.5; kill -9 $$) & fi
    exec "$ALIGN" "$@"' _ "${LONG[@]}" --output killed
"$ALIGN" "${LONG[@]}" --output killed --stop-after 1 > killed-resume.log 2>&1 || { cat killed-resume.log; fail "the checkpoint left by the killed job does not resume"; }
grep -q "resumed at step" killed-resume.log || fail "the killed job left no checkpoint"
echo "  killed: $(grep 'resumed at step' killed-resume.log) in one process"
echo "test-mpi: ok"
