"""Record what packs find and embed on a few photos, and compare two recordings.

Used to show that a change to the model plumbing keeps results: record with the code
before (PYTHONPATH pointing at its ``src``) and after, then compare. Photos: LFW images of
four people and the first WIDER dev photos (crowds, large images).

    PYTHONPATH=/old/src python benchmarks/record_faces.py record before.npz
    PYTHONPATH=src python benchmarks/record_faces.py record after.npz
    python benchmarks/record_faces.py compare before.npz after.npz

Packs: the default and, with ``--accept-research-licence`` (InsightFace: non-commercial
research only), ``scrfd-mbf``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

LFW = [("George_W_Bush", 1), ("George_W_Bush", 2), ("Colin_Powell", 1), ("Tony_Blair", 1),
       ("Hugo_Chavez", 1)]
WIDER = 3


def photos(datasets: Path) -> list[Path]:
    lfw = [datasets / "lfw" / "images" / n / f"{n}_{i:04d}.jpg" for n, i in LFW]
    wider = sorted((datasets / "wider-dev" / "images").glob("*/*.jpg"))[:WIDER]
    return lfw + wider


def record(out: Path, packs: list[str], research: bool) -> None:
    from faceledger.config import default_datasets_dir, default_models_dir
    from faceledger.images.decode import read_image_file
    from faceledger.models import load_pack

    arrays: dict[str, np.ndarray] = {}
    paths = photos(default_datasets_dir())
    for pack in packs:
        analyzer = load_pack(pack, default_models_dir(), research, threads=1)
        for i, path in enumerate(paths):
            faces = analyzer.analyze(read_image_file(path).bgr)
            key = f"{pack}|{i}"
            arrays[key + "|box"] = np.array([[f.face.box.x, f.face.box.y, f.face.box.width,
                                              f.face.box.height] for f in faces]).reshape(-1, 4)
            arrays[key + "|marks"] = np.array([f.face.landmarks.as_array().ravel()
                                               for f in faces]).reshape(-1, 10)
            arrays[key + "|score"] = np.array([f.face.score for f in faces])
            arrays[key + "|emb"] = np.array([f.embedding for f in faces]).reshape(
                len(faces), -1)
    np.savez(out, **arrays)
    print(f"{out}: {len(paths)} photos x {len(packs)} packs")


def compare(a: Path, b: Path) -> int:
    old, new = np.load(a), np.load(b)
    if set(old.files) != set(new.files):
        print("different photos or packs recorded")
        return 1
    worst = 0
    for key in sorted(k.removesuffix("|box") for k in old.files if k.endswith("|box")):
        ob, nb = old[key + "|box"], new[key + "|box"]
        if ob.shape != nb.shape:
            print(f"{key}: {len(ob)} faces before, {len(nb)} after")
            worst = 1
            continue
        if not len(ob):
            print(f"{key}: no face, both")
            continue
        marks = float(np.abs(old[key + "|marks"] - new[key + "|marks"]).max())
        scores = float(np.abs(old[key + "|score"] - new[key + "|score"]).max())
        cos = float((old[key + "|emb"] * new[key + "|emb"]).sum(axis=1).min())
        ok = marks < 0.5 and cos >= 0.999
        worst = max(worst, 0 if ok else 1)
        print(f"{key}: {len(ob)} faces, max landmark shift {marks:.4f} px, max score change "
              f"{scores:.2e}, min embedding cosine {cos:.6f} {'ok' if ok else 'DIFFERENT'}")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--pack", action="append", default=None)
    rec.add_argument("--accept-research-licence", action="store_true")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.cmd == "compare":
        return compare(args.a, args.b)
    packs = args.pack or (["yunet-omz0095"] + (["scrfd-mbf", "yunet-mbf"]
                                               if args.accept_research_licence else []))
    record(args.out, packs, args.accept_research_licence)
    return 0


if __name__ == "__main__":
    sys.exit(main())
