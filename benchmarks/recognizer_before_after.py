"""CPU time per face of the default pack's recognizer against the one of another checkout
(e.g. before the runtime layer: ``models/openvino_recognizer.py`` of commit cc63de6), on the
same aligned LFW crops, interleaved call by call so other load falls on both alike.

    git archive cc63de6 src | tar -x -C /tmp/old
    python benchmarks/recognizer_before_after.py /tmp/old/src
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from faceledger.config import default_datasets_dir, default_models_dir
from faceledger.images.decode import read_image_file
from faceledger.models import load_pack
from faceledger.models.align import OMZ_REFERENCE_96x112
from faceledger.models.packs import OMZ_0095_XML


def old_recognizer(old_src: Path, models: Path):
    path = old_src / "faceledger" / "models" / "openvino_recognizer.py"
    spec = importlib.util.spec_from_file_location("faceledger.models._old_recognizer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "faceledger.models"
    spec.loader.exec_module(module)
    rec = module.OpenVinoRecognizer(models / OMZ_0095_XML.path, OMZ_REFERENCE_96x112,
                                    input_size=128, embedding_size=256, threads=1)
    rec.load()
    return rec


def main() -> None:
    models = default_models_dir()
    new = load_pack("yunet-omz0095", models, threads=1)
    new.load()
    recs = {"new": new.recognizer, "old": old_recognizer(Path(sys.argv[1]), models)}
    lfw = sorted((default_datasets_dir() / "lfw" / "images").glob("*/*.jpg"))[::50][:150]
    crops = []
    for path in lfw:
        bgr = read_image_file(path).bgr
        faces = new.detect(bgr)[:1]
        if faces:
            crops.append(new.recognizer.align(bgr, faces[0]))
    for label, size, reps in (("one face + mirror per call", 1, 3), ("8 faces per call", 64, 10)):
        spent = dict.fromkeys(recs, 0.0)
        calls = 0
        for rep in range(reps):
            for i in range(0, len(crops) if size == 1 else size, size):
                chunk = crops[i : i + size] if size == 1 else crops[:size]
                for name in (("new", "old") if (rep + i) % 2 else ("old", "new")):
                    start = time.process_time()
                    recs[name].embed_crops(chunk, flip=True)
                    spent[name] += time.process_time() - start
                calls += len(chunk)
        per_face = {k: 1000 * v / calls for k, v in spent.items()}
        print(f"{label}: new {per_face['new']:.3f} ms CPU/face, old {per_face['old']:.3f}, "
              f"new/old {per_face['new'] / per_face['old']:.3f} ({calls} faces)")


if __name__ == "__main__":
    main()
