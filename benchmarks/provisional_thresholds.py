"""Provisional cosine thresholds for a pack from LFW pairsDevTrain impostors.

Embeds the central face of every image that appears in pairsDevTrain's 1,100 mismatched pairs,
then scores (a) those 1,100 pairs and (b) every pair of those images that shows two different
people (about 2.4 million pairs, so that FAR 1e-4 is resolvable). Prints the thresholds at
FAR 1e-2, 1e-3, 1e-4 from (b), with (a)'s for comparison. Not a calibration: the project's
calibration replaces these.

    OMP_NUM_THREADS=1 python benchmarks/provisional_thresholds.py dlib yunet-dlib
    OMP_NUM_THREADS=1 python benchmarks/provisional_thresholds.py \
        --accept-research-licence scrfd-mbf
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.models.prominence import main_face
from faceledger_bench.lfw import images_dir, parse_pairs
from faceledger_bench.metrics import threshold_at_far

FARS = (1e-2, 1e-3, 1e-4)


def embed_central(analyzer, root, images):
    out = np.full((len(images), analyzer.embedding_size), np.nan, dtype=np.float32)
    for i, rel in enumerate(images):
        image = read_image_file(root / rel)
        face = main_face(analyzer.detect(image.bgr), image.width, image.height)
        if face is not None:
            out[i] = analyzer.embed(image.bgr, [face])[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("packs", nargs="+")
    parser.add_argument("--accept-research-licence", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="only the first N impostor pairs")
    args = parser.parse_args()
    lfw = default_datasets_dir() / "lfw"
    root = images_dir(lfw)
    pairs = [p for p in parse_pairs(lfw / "pairsDevTrain.txt") if not p.same]
    if args.limit:
        pairs = pairs[: args.limit]
    images = list(dict.fromkeys([p.image_a for p in pairs] + [p.image_b for p in pairs]))
    index = {rel: i for i, rel in enumerate(images)}
    people = np.array([rel.split("/")[0] for rel in images])
    for name in args.packs:
        analyzer = load_pack(name, default_models_dir(), args.accept_research_licence, threads=1)
        start = time.perf_counter()
        vectors = embed_central(analyzer, root, images)
        seconds = time.perf_counter() - start
        missing = int(np.isnan(vectors[:, 0]).sum())
        listed = np.array(
            [float(vectors[index[p.image_a]] @ vectors[index[p.image_b]]) for p in pairs]
        )
        ok = ~np.isnan(vectors[:, 0])
        v, who = vectors[ok], people[ok]
        sims = v @ v.T
        upper = np.triu(np.ones_like(sims, dtype=bool), 1) & (who[:, None] != who[None, :])
        everything = sims[upper]
        result = {
            "pack": name,
            "images": len(images),
            "missing": missing,
            "seconds_per_image": round(seconds / len(images), 4),
            "listed_pairs": len(pairs),
            "all_impostor_pairs": int(everything.size),
            "thresholds_all_pairs": {
                f"{f:g}": round(threshold_at_far(everything, f)[0], 4) for f in FARS
            },
            "thresholds_listed_pairs": {
                f"{f:g}": [round(threshold_at_far(listed, f)[0], 4), threshold_at_far(listed, f)[1]]
                for f in FARS
            },
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
