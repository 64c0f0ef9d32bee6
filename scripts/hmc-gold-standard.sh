#!/usr/bin/env bash
# HMC as the gold standard on small tasks (issue 9; after Izmailov et al. 2021): NUTS and static
# HMC, 4 chains each on the full-batch posterior, then every other method on the same data, and
# each one's agreement with NUTS's predictive (top-1 agreement, total variation).
#
#   two-moons       MLP 2-16-16-2, 1,000 training points, 500 test points
#   fashion-mnist   MLP 784-32-10 on the first 500 training images, agreement on 2,000 test images
#                   (NUTS trees ≤ 2^9 steps, 400 warm-up + 400 iterations, ~25 minutes; HMC 300 + 300)
#   regression-1d   MLP 1-16-16-2 (heteroscedastic Gaussian), NUTS only: R̂ and ESS of predicted means;
#                   and with trees of up to 2^12 leapfrog steps ("nuts-depth12"): at the default 2^10
#                   nearly every iteration ends at the limit and the chains mix on one seed of three;
#                   at 2^12 on two (seed 0: R̂ 1.014)
#   boston-housing, auto-mpg   the UCI sets (standardised), MLP D-16-16-2, NUTS only, as regression-1d;
#                   and NUTS on the homoscedastic MLP D-16-16-1 + one learned noise variance
#                   (--regression-noise homoscedastic): "nuts-homoscedastic"; Auto MPG also with
#                   4 × 2,000, 4 × 4,000 and 4 × 8,000 iterations: "nuts-homoscedastic-long", "-4000", "-8000";
#                   Boston housing with 4 × 8,000 ("nuts-homoscedastic-8000"), and so at targetAcceptance 0.9
#                   after 1,000 warm-up iterations ("nuts-homoscedastic-8000-d90")
#
# Prints, per task, the sampler figures (R̂ and bulk ESS of the test-point predictions over the
# 4 chains; ≤ 1.01 and ≥ 400 asked) and the agreement table: top-1 agreement and total variation
# for the classifiers; for the regression tasks every other method trained next to the best-mixed
# NUTS run (regression-1d: nuts-depth12; the UCI sets: nuts-homoscedastic-8000) and the mean
# 1-Wasserstein distance between the predictive distributions, in the targets' units.
#
#   bash scripts/hmc-gold-standard.sh [OUTDIR] [SEED]   # default credence-results/hmc, seed 0
#   TASKS="two-moons" bash scripts/hmc-gold-standard.sh credence-results/hmc 1   # some tasks only
#   TASKS=auto-mpg RUNS="nuts-homoscedastic-8000 regression-agreement" bash scripts/hmc-gold-standard.sh OUT 2
#                   # some runs only: nuts, hmc, approximations, agreement (the classifiers'), nuts-depth12,
#                   # nuts-homoscedastic, nuts-homoscedastic-long, -4000, -8000, -8000-d90, -16000-d90 (Boston housing;
#                   # only when asked for by RUNS), regression-agreement
#   TASKS=boston-housing RUNS=regression-agreement BOSTON_REFERENCE=nuts-homoscedastic-16000-d90 bash scripts/hmc-gold-standard.sh OUT 0
#                   # Boston's approximations scored against another of its NUTS runs
#   CREDENCE=/path/to/credence bash scripts/hmc-gold-standard.sh ...   # that binary instead of a release build
#                   # (a copy keeps an hour-long run apart from rebuilds of the checkout)
#
# Resumable (re-running skips finished chains and networks). Release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/hmc}"
SEED="${2:-0}"
TASKS="${TASKS:-two-moons fashion-mnist regression-1d boston-housing auto-mpg}"
RUNS="${RUNS:-all}"
wants() { [[ " $TASKS " == *" $1 "* ]]; }
named() { [[ " $RUNS " == *" $1 "* ]]; }
runs() { [[ "$RUNS" == all ]] || named "$1"; }
if [[ -n "${CREDENCE:-}" ]]; then
  C="$CREDENCE"
else
  swift build -c release --product credence >&2
  C=.build/release/credence
fi
# The approximations scored against NUTS, trained into DIR as PREFIX<method>.safetensors: the
# last-layer Laplace with HESSIAN, the SG-MCMC chains with the extra settings SGMCMC (a string).
APPROXIMATIONS=(map mc-dropout ensemble swag laplace vi sgld csghmc)
train_approximations() {  # dir, prefix, hessian, "SG-MCMC settings", common training options...
  local D="$1" prefix="$2" hessian="$3" SGMCMC; read -r -a SGMCMC <<< "$4"; shift 4
  local out="$D/$prefix"
  $C train "$@" --method map --out "${out}map.safetensors" > "${out}map.json"
  $C train "$@" --method mc-dropout --samples 64 --out "${out}mc-dropout.safetensors" > "${out}mc-dropout.json"
  $C train "$@" --method ensemble --set members=5 --out "${out}ensemble.safetensors" > "${out}ensemble.json"
  $C train "$@" --method swag --samples 64 --out "${out}swag.safetensors" > "${out}swag.json"
  $C train "$@" --method laplace --set subset=last-layer --set hessian="$hessian" --out "${out}laplace.safetensors" > "${out}laplace.json"
  $C train "$@" --method vi --samples 64 --out "${out}vi.safetensors" > "${out}vi.json"
  $C train "$@" --method sgld --set burnInEpochs=50 --set sampleEpochs=200 --set thinning=20 ${SGMCMC[@]+"${SGMCMC[@]}"} --out "${out}sgld.safetensors" > "${out}sgld.json"
  $C train "$@" --method csghmc --set cycles=4 --set cycleEpochs=50 --set thinning=5 ${SGMCMC[@]+"${SGMCMC[@]}"} --out "${out}csghmc.safetensors" > "${out}csghmc.json"
}
run_task() {  # name, agreement points, "settings of both samplers", "NUTS's own", "HMC's own", common training options...
  local task="$1" points="$2" SAMPLER NUTS_ONLY HMC_ONLY
  read -r -a SAMPLER <<< "$3"; read -r -a NUTS_ONLY <<< "$4"; read -r -a HMC_ONLY <<< "$5"; shift 5
  local D="$OUT/$task-seed-$SEED"
  mkdir -p "$D"
  local COMMON=(--seed "$SEED" --holdout 0 --resume --format json "$@")
  runs nuts && $C train "${COMMON[@]}" --method nuts "${SAMPLER[@]}" ${NUTS_ONLY[@]+"${NUTS_ONLY[@]}"} --out "$D/nuts.safetensors" > "$D/nuts.json"
  runs hmc && $C train "${COMMON[@]}" --method hmc "${SAMPLER[@]}" ${HMC_ONLY[@]+"${HMC_ONLY[@]}"} --set leapfrogSteps=100 --out "$D/hmc.safetensors" > "$D/hmc.json"
  runs approximations && train_approximations "$D" "" kronecker "" "${COMMON[@]}"
  runs agreement || return 0
  local scored=(hmc "${APPROXIMATIONS[@]}")
  scored=("${scored[@]/#/$D/}")
  $C agreement --reference "$D/nuts.safetensors" --points "$points" --samples 64 --format json "${scored[@]/%/.safetensors}" > "$D/agreement.json"
}

wants two-moons && run_task two-moons 500 "--set warmup=500 --set iterations=500 --set chains=4" "" "" --dataset two-moons --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005
wants fashion-mnist && run_task fashion-mnist 2000 "--set chains=4" "--set warmup=400 --set iterations=400 --set maxTreeDepth=9" "--set warmup=300 --set iterations=300" --dataset fashion-mnist --train-limit 500 --hidden 32 --epochs 50 --batch-size 64 --lr 0.001
for TASK in regression-1d boston-housing auto-mpg; do
  wants "$TASK" && runs nuts || continue
  D="$OUT/$TASK-seed-$SEED"; mkdir -p "$D"
  $C train --dataset "$TASK" --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005 --seed "$SEED" --holdout 0 --resume \
    --format json --method nuts --set warmup=500 --set iterations=500 --set chains=4 --out "$D/nuts.safetensors" > "$D/nuts.json"
done
# Four times the cost of an iteration at depth 10: 50–60 minutes a seed beside other work on 2 cores (Zen 3).
if wants regression-1d && runs nuts-depth12; then
  D="$OUT/regression-1d-seed-$SEED"; mkdir -p "$D"
  $C train --dataset regression-1d --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005 --seed "$SEED" --holdout 0 --resume \
    --format json --method nuts --set warmup=500 --set iterations=500 --set chains=4 --set maxTreeDepth=12 --out "$D/nuts-depth12.safetensors" > "$D/nuts-depth12.json"
fi
for TASK in boston-housing auto-mpg; do
  wants "$TASK" && runs nuts-homoscedastic || continue
  D="$OUT/$TASK-seed-$SEED"; mkdir -p "$D"
  $C train --dataset "$TASK" --regression-noise homoscedastic --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005 --seed "$SEED" --holdout 0 --resume \
    --format json --method nuts --set warmup=500 --set iterations=500 --set chains=4 --out "$D/nuts-homoscedastic.safetensors" > "$D/nuts-homoscedastic.json"
done
# Longer chains on Auto MPG: 4 × 2,000 ("long", 30 minutes on 2 shared cores), 4 × 4,000 (85 minutes
# beside a benchmark: R̂ falls about as 1/√iterations) and 4 × 8,000 (61 minutes alone before the
# HMC gradient got 2× faster, 25–35 now: the first run that meets R̂ ≤ 1.01 and ESS ≥ 400 on every
# test point); Boston housing at 4 × 8,000 too.
for RUN in auto-mpg:long:2000 auto-mpg:4000:4000 auto-mpg:8000:8000 boston-housing:8000:8000; do
  TASK="${RUN%%:*}"; REST="${RUN#*:}"
  D="$OUT/$TASK-seed-$SEED"; NAME="nuts-homoscedastic-${REST%%:*}"
  wants "$TASK" && runs "$NAME" || continue
  mkdir -p "$D"
  $C train --dataset "$TASK" --regression-noise homoscedastic --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005 --seed "$SEED" --holdout 0 --resume \
    --format json --method nuts --set warmup=500 --set iterations="${REST##*:}" --set chains=4 --out "$D/$NAME.safetensors" > "$D/$NAME.json"
done

# Boston housing at targetAcceptance 0.9 with 1,000 warm-up iterations too: at 0.8 seed 2 diverged on
# 1,441 iterations and missed R-hat (1.0108); at 0.95 every tree hit the depth cap and it mixed worse.
# At 4 × 8,000 ("-8000-d90") it met the targets on seed 2 only (seed 0 R-hat 1.0132, seed 1 ESS 340);
# "-16000-d90" doubles the draws (seed 0: 2 h of chains beside other work, both targets met).
for ITERATIONS in 8000 16000; do
  NAME="nuts-homoscedastic-$ITERATIONS-d90"
  wants boston-housing && runs "$NAME" || continue
  [[ $ITERATIONS == 8000 ]] || named "$NAME" || continue   # the long one only when named
  D="$OUT/boston-housing-seed-$SEED"; mkdir -p "$D"
  $C train --dataset boston-housing --regression-noise homoscedastic --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005 --seed "$SEED" --holdout 0 --resume \
    --format json --method nuts --set warmup=1000 --set iterations="$ITERATIONS" --set chains=4 --set targetAcceptance=0.9 --out "$D/$NAME.safetensors" > "$D/$NAME.json"
done

# Every other method on the regression tasks, scored against the best-mixed NUTS run of the seed: the
# mean W1 between the predictive distributions of y (targets' units); SG-MCMC at 1/100 of its default step;
# the UCI sets' last-layer Laplace with a full Hessian (their last layer holds the learned noise variance,
# which Kronecker factors do not cover).
regression_agreement() {  # task, reference run's name, last-layer Laplace's Hessian, the training options...
  local task="$1" reference="$2" hessian="$3"; shift 3
  local D="$OUT/$task-seed-$SEED"
  runs regression-agreement && [[ -f "$D/$reference.safetensors" ]] || return 0
  train_approximations "$D" "$reference-" "$hessian" "--set learningRate=0.0001" --dataset "$task" --seed "$SEED" --holdout 0 --resume --format json "$@"
  local scored=("${APPROXIMATIONS[@]/#/$D/$reference-}")
  $C agreement --reference "$D/$reference.safetensors" --samples 64 --format json "${scored[@]/%/.safetensors}" > "$D/agreement-$reference.json"
}
if wants regression-1d; then
  regression_agreement regression-1d nuts-depth12 kronecker --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005
fi
# BOSTON_REFERENCE picks Boston's reference run (default nuts-homoscedastic-8000; nuts-homoscedastic-16000-d90
# is the setting that met the targets on seed 0).
for TASK in boston-housing auto-mpg; do
  reference=nuts-homoscedastic-8000
  [[ $TASK == boston-housing ]] && reference="${BOSTON_REFERENCE:-nuts-homoscedastic-8000}"
  wants "$TASK" && regression_agreement "$TASK" "$reference" full --regression-noise homoscedastic --hidden 16,16 --epochs 100 --batch-size 64 --lr 0.005
done

python3 - "$OUT" "$SEED" <<'PY'
import json, sys, os
out, seed = sys.argv[1], sys.argv[2]

def sampler(task, method):
    r = json.load(open(os.path.join(out, f"{task}-seed-{seed}", f"{method}.json")))
    ch = r["evaluation"]["metrics"]["chain"]
    points = [q for q in ch["quantities"] if not q["quantity"].startswith("projection")]
    proj = [q for q in ch["quantities"] if q["quantity"].startswith("projection")]
    s = ch.get("sampler") or []
    return (f"| {task} | {method} | {ch.get('chains', 1)} × {ch['samples'] // ch.get('chains', 1)} | "
            f"{max(q['rHat'] for q in points):.3f} | {min(q['bulkEffectiveSampleSize'] for q in points):.0f} | "
            f"{max(q['rHat'] for q in proj):.3f} | {min(q['bulkEffectiveSampleSize'] for q in proj):.0f} | "
            f"{min(x['stepSize'] for x in s):.3g}–{max(x['stepSize'] for x in s):.3g} | "
            f"{min(x['meanAcceptance'] for x in s):.2f}–{max(x['meanAcceptance'] for x in s):.2f} | "
            f"{sum(x['divergences'] for x in s)} | {sum(x['meanLeapfrogSteps'] for x in s) / len(s):.0f} | "
            f"{r['evaluation']['metrics']['scalability']['fitSeconds']:.0f} |")

print(f"seed {seed}\n")
print("| task | sampler | chains × samples | worst R̂ (test-point predictions) | smallest bulk ESS (predictions) | worst R̂ (θ projections) | smallest bulk ESS (projections) | ε | mean acceptance | divergences | leapfrog steps / iteration | train + sample s |")
print("|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|")
for task, methods in [("two-moons", ["nuts", "hmc"]), ("fashion-mnist", ["nuts", "hmc"]), ("regression-1d", ["nuts", "nuts-depth12"]),
                      ("boston-housing", ["nuts", "nuts-homoscedastic", "nuts-homoscedastic-8000", "nuts-homoscedastic-8000-d90", "nuts-homoscedastic-16000-d90"]), ("auto-mpg", ["nuts", "nuts-homoscedastic", "nuts-homoscedastic-long", "nuts-homoscedastic-4000", "nuts-homoscedastic-8000"])]:
    for m in methods:
        if os.path.exists(os.path.join(out, f"{task}-seed-{seed}", f"{m}.json")):
            print(sampler(task, m))

for task in ["two-moons", "fashion-mnist"]:
    if not os.path.exists(os.path.join(out, f"{task}-seed-{seed}", "agreement.json")):
        continue
    rows = json.load(open(os.path.join(out, f"{task}-seed-{seed}", "agreement.json")))
    print(f"\n{task}: agreement with NUTS on {rows[0]['agreement']['examples']} test points\n")
    print("| method | accuracy | NLL | top-1 agreement | total variation |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['accuracy']:.4f} | {r['negativeLogLikelihood']:.4f} | {r['agreement']['topOneAgreement']:.4f} | {r['agreement']['meanTotalVariation']:.4f} |")

for task, reference in [("regression-1d", "nuts-depth12"), ("boston-housing", "nuts-homoscedastic-8000"), ("auto-mpg", "nuts-homoscedastic-8000")]:
    path = os.path.join(out, f"{task}-seed-{seed}", f"agreement-{reference}.json")
    if not os.path.exists(path):
        continue
    rows = json.load(open(path))
    print(f"\n{task}: agreement with {reference} on {rows[0]['regressionAgreement']['examples']} test points (targets' units)\n")
    print("| method | RMSE | NLL | Wasserstein-1 |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['rootMeanSquaredError']:.4f} | {r['negativeLogLikelihood']:.4f} | {r['regressionAgreement']['meanWassersteinDistance']:.4f} |")
PY
