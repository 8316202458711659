"""Time-series promotion recipe: which learning rate and schedule length train each set's winner best. Judged by
Monte-Carlo cross-validation on the training split only (never the test split): each split seed holds out a
different fifth of the set's training series for validation and gives fresh initial weights and batch orders.

    python results/studies/timeseries/series_recipe.py results/studies/timeseries --out series_recipe.jsonl
    python results/studies/timeseries/series_recipe.py results/studies/timeseries --sets ArrowHead,OSULeaf --lr 0.1,0.01 --epochs 200

`--architectures FILE` also trains other architectures with the same recipes (a JSON object of name -> genome,
e.g. results/studies/timeseries/series_architectures.json, which holds networks the conv1d space cannot express): does the space,
or the choice within it, hold the sets back?

    python results/studies/timeseries/series_recipe.py results/studies/timeseries --out series_recipe.jsonl --sets OSULeaf \
        --lr 0.1 --epochs 200 --splits 1,2 --architectures results/studies/timeseries/series_architectures.json

Each finished training is appended to --out, and a second run skips what is there (resumable). Prints one row per
architecture, set and variant (validation accuracy, mean over the split seeds), then each variant's mean over the
sets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from evohybrid.distributed.job_pool import PoolOptions, run_jobs
from evohybrid.spaces.genome import Genome
from evohybrid.studies.timeseries_study import promoted_winner
from evohybrid.training.trainer import Training, training_data

BATCH_SIZE = 16  # the study's
WINNER = "winner"  # the architecture the study promoted for the set
SPLITS = "1,2,3"  # seed 0's validation slice chose the architecture: judge the recipe on others


def _setup(study: str, architectures: dict) -> dict:
    return {"study": Path(study), "winners": {}, "data": {}, "architectures": architectures}


def _train(context: dict, job: tuple[str, str, int, float, int]) -> float:
    architecture, name, split_seed, lr, epochs = job
    if name not in context["winners"]:  # the set's search config and the genome the study promoted
        folder = context["study"] / name
        eval_id = json.loads((folder / "result.json").read_text())["ours"]["id"]
        context["winners"][name] = promoted_winner(folder, eval_id)[:2]
    config, genome = context["winners"][name]
    if architecture != WINNER:
        genome = Genome.from_dict(context["architectures"][architecture])
    key = (name, split_seed)
    if key not in context["data"]:  # one set at a time: keep only its splits
        context["data"] = {k: v for k, v in context["data"].items() if k[0] == name}
        context["data"][key] = training_data(config.override(None, seed=split_seed))
    training = Training(genome, context["data"][key], epochs=epochs, lr=lr, batch_size=BATCH_SIZE)
    training.run()
    return training.val_accuracy()


def _table(rows: list[dict]) -> str:
    by_variant: dict[tuple, dict[str, list[float]]] = {}
    seconds: dict[tuple, float] = {}
    for row in rows:
        variant = (row.get("architecture", WINNER), row["lr"], row["epochs"])
        by_variant.setdefault(variant, {}).setdefault(row["set"], []).append(row["val_acc"])
        seconds[variant] = seconds.get(variant, 0.0) + row["seconds"]
    names = sorted({row["set"] for row in rows})
    lines = [f"{'architecture':<20} {'lr':>6} {'epochs':>6} " + " ".join(f"{name[:12]:>12}" for name in names)
             + f" {'mean':>6} {'s':>6}"]
    for variant in sorted(by_variant):
        per_set = by_variant[variant]
        cells = [statistics.mean(per_set[name]) if name in per_set else None for name in names]
        done = [cell for cell in cells if cell is not None]
        lines.append(f"{variant[0]:<20} {variant[1]:>6g} {variant[2]:>6} "
                     + " ".join("           -" if cell is None else f"{cell:>12.3f}" for cell in cells)
                     + f" {statistics.mean(done):>6.3f} {seconds[variant]:>6.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="a folder written by 'evohybrid study timeseries'")
    parser.add_argument("--out", required=True, help="a JSON-lines file of finished trainings (appended; resumable)")
    parser.add_argument("--sets", help="comma-separated set names (default: every set of the study)")
    parser.add_argument("--lr", default="0.1,0.01", help="comma-separated learning rates (default 0.1,0.01)")
    parser.add_argument("--epochs", default="200,500", help="comma-separated schedule lengths (default 200,500)")
    parser.add_argument("--splits", default=SPLITS, help=f"comma-separated split seeds (default {SPLITS})")
    parser.add_argument("--architectures", help="a JSON file of name -> genome, trained besides each set's winner")
    parser.add_argument("--executor", choices=("ray", "local"), default="ray")
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    args = parser.parse_args()

    study, out = Path(args.study), Path(args.out)
    names = args.sets.split(",") if args.sets else sorted(path.parent.name for path in study.glob("*/result.json"))
    architectures = json.loads(Path(args.architectures).read_text()) if args.architectures else {}
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {(row.get("architecture", WINNER), row["set"], row["split"], row["lr"], row["epochs"]) for row in rows}
    # Sets in order, so a worker keeps one set's data at a time.
    jobs = [job for job in itertools.product([WINNER, *architectures], names, map(int, args.splits.split(",")),
                                             map(float, args.lr.split(",")), map(int, args.epochs.split(",")))
            if job not in done]
    jobs.sort(key=lambda job: job[1])
    with out.open("a") as sink:
        for (architecture, name, split_seed, lr, epochs), accuracy, seconds in run_jobs(
                jobs, _setup, (str(study), architectures), _train,
                PoolOptions(executor=args.executor, workers=args.workers)):
            row = {"set": name, "split": split_seed, "lr": lr, "epochs": epochs, "val_acc": accuracy,
                   "seconds": seconds, **({} if architecture == WINNER else {"architecture": architecture})}
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            rows.append(row)
            print(f"{architecture:<20} {name:<17} split {split_seed}  lr {lr:g}  {epochs:>4} epochs  "
                  f"val {accuracy:.3f}  {seconds:.0f} s", flush=True)
    print(_table(rows))


if __name__ == "__main__":
    main()
