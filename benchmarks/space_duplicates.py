"""How often a search space's sampler draws a genome it has drawn before, band by band of a long run.

`SearchSpace.sample` draws each stage's depth uniformly and then its genes, so shallow stages, which have few distinct
settings, carry much of the probability: long random searches keep drawing networks they have already seen, and every
repeat costs the search another draw (or a mutation, the algorithms' fallback). This counts those repeats.

    python benchmarks/space_duplicates.py                         # default space, 100,000 draws
    python benchmarks/space_duplicates.py --space conv1d --draws 20000
"""

from __future__ import annotations

import argparse
import random

from evohybrid.spaces.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="default")
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--bands", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    space, rng = load_space(args.space), random.Random(args.seed)
    print(f"space '{args.space}': {space.size:,} distinct genomes; {args.draws:,} draws, seed {args.seed}")
    seen: set[str] = set()
    band = max(1, args.draws // args.bands)
    for start in range(0, args.draws, band):
        end = min(start + band, args.draws)
        repeats = 0
        for _ in range(start, end):
            genome_hash = space.sample(rng).hash
            repeats += genome_hash in seen
            seen.add(genome_hash)
        print(f"draws [{start:,}, {end:,}): {repeats / (end - start):6.1%} already drawn")


if __name__ == "__main__":
    main()
